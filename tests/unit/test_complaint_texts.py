"""The texts of the complaint procedure: the letter of a serious grievance (004:407 函告) in both languages."""

from __future__ import annotations

import pytest

from aftersales.messaging.texts import notice_text

CONTEXT = {"number": "CP-20260924-00001", "countermeasures": "赔偿并致歉", "linked_case": "RT-20260930-00002",
           "linked_kind": "return", "show_timetable": True, "timetable": "三个工作日内"}


@pytest.mark.parametrize(("language", "deputy", "signed", "kind"),
                         [("zh", "副总经理", "此致", "退货"),
                          ("en", "Deputy General Manager", "Yours sincerely", "return")])
def test_a_serious_grievance_is_answered_by_a_letter_in_the_customers_language(language: str, deputy: str,
                                                                               signed: str, kind: str) -> None:
    letter = notice_text("complaint.letter", language, CONTEXT)
    text = "\n".join(letter.lines)
    assert CONTEXT["number"] in letter.headline
    assert deputy in text and signed in text and "赔偿并致歉" in text
    assert f"{kind}" in text and CONTEXT["linked_case"] in text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_sales_is_told_to_collect_the_receivable_of_an_unfounded_complaint(language: str) -> None:
    """004:483 「客户投诉不成立时…以规定收款期收回应收帐款,如客户有异议时,再以“签呈”呈报上级处理」."""
    notice = notice_text("complaint.receivable", language, {"number": "CP-1", "findings": "录音正常"})
    assert "004:483" in "\n".join(notice.lines) and "签呈" in "\n".join(notice.lines)
