"""What Prefect keeps of an answer given from a link: the decision, never what a person typed (000:69, 004:103)."""

from __future__ import annotations

from models.inputs import KEPT_OUT, AcceptanceInput, ApprovalInput, QuoteConfirmationInput, for_prefect


def test_a_customers_signature_and_comment_stay_in_the_project_database() -> None:
    answer = {"accepted": True, "signature_name": "王小明", "comment": "请拨打 13900000000"}
    safe = for_prefect(AcceptanceInput, answer)
    assert safe == {"accepted": True, "signature_name": KEPT_OUT, "comment": ""}
    assert AcceptanceInput.model_validate(safe).accepted is True, "the run input still validates"
    assert answer["signature_name"] == "王小明", "the recorded answer is not changed"


def test_decisions_and_figures_go_through_unchanged() -> None:
    assert for_prefect(ApprovalInput, {"approved": False, "comment": "太贵"}) == {"approved": False, "comment": ""}
    quote = for_prefect(QuoteConfirmationInput, {"accept": True, "signature_name": "Li"})
    assert quote == {"accept": True, "signature_name": KEPT_OUT}
