"""Monthly complaint statistics (004:475): pure figures from closed complaints."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aftersales.rules.complaint_stats import ComplaintFact, previous_month, render_markdown, summarise

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED = datetime(2026, 11, 20, 15, 0, tzinfo=SHANGHAI)


def fact(number: str, category: str = "product_quality", responsibility: str | None = "our_quality", *,
         overseas: bool = False, late: bool = False, deadline: bool = True, status: str = "closed",
         escalations: int = 0, immediate: bool = False) -> ComplaintFact:
    close_by = CLOSED + (timedelta(hours=-1) if late else timedelta(days=1)) if deadline else None
    return ComplaintFact(number=number, category=category, responsibility=responsibility, overseas=overseas,
                         closed_at=CLOSED, close_by=close_by, status=status, escalations=escalations,
                         immediate=immediate)


FACTS = [
    fact("CP-1"),
    fact("CP-2", "staff_attitude", "our_service", escalations=2),
    fact("CP-3", "product_quality", None, status="unfounded"),
    fact("CP-4", "quality_safety", "supplier", overseas=True, late=True, immediate=True, escalations=1),
    fact("CP-5", "repair_price", "customer", deadline=False, status="reopened"),
]


def test_complaints_are_counted_by_category_responsibility_and_outcome() -> None:
    stats = summarise(FACTS, "2026-11")

    assert stats.month == "2026-11" and stats.total == 5
    assert stats.by_category == {"product_quality": 2, "quality_safety": 1, "repair_price": 1, "staff_attitude": 1}
    assert stats.by_responsibility == {"customer": 1, "our_quality": 1, "our_service": 1, "supplier": 1,
                                       "undetermined": 1}
    assert stats.by_status == {"closed": 3, "reopened": 1, "unfounded": 1}
    assert stats.overseas == 1 and stats.immediate == 1


def test_the_on_time_rate_counts_a_late_case_and_leaves_out_one_without_a_deadline() -> None:
    stats = summarise(FACTS, "2026-11")

    assert (stats.on_time, stats.measured) == (3, 4)
    assert stats.on_time_rate == 0.75
    assert stats.late == ("CP-4",) and stats.unmeasured == ("CP-5",)


def test_a_case_closed_exactly_at_its_deadline_is_on_time() -> None:
    exact = ComplaintFact(number="CP-9", category="other", responsibility=None, overseas=False, closed_at=CLOSED,
                          close_by=CLOSED, status="closed")

    assert exact.on_time is True


def test_escalated_cases_and_escalations_are_counted_apart() -> None:
    stats = summarise(FACTS, "2026-11")

    assert stats.escalated_cases == 2 and stats.escalations == 3


def test_a_month_without_closed_complaints_has_no_rate() -> None:
    stats = summarise([], "2026-11")

    assert stats.total == 0 and stats.on_time_rate is None
    assert "n/a" in render_markdown(stats)


def test_the_previous_month_of_january_is_december_of_the_year_before() -> None:
    assert previous_month(date(2027, 1, 9)) == (date(2026, 12, 1), date(2026, 12, 31))


def test_the_previous_month_knows_february_lengths() -> None:
    assert previous_month(date(2028, 3, 1)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert previous_month(date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 2, 28))


def test_the_markdown_shows_the_figures_with_chinese_and_english_headings() -> None:
    markdown = render_markdown(summarise(FACTS, "2026-11"), {"our_quality": "本公司质量问题"})

    assert "# 客户投诉月度统计 / Monthly complaint report 2026-11" in markdown
    assert "| 结案总数 / Closed in total | 5 |" in markdown
    assert "| 按期结案 / Closed on time | 3 / 4 |" in markdown
    assert "| 按期结案率 / On-time rate | 75.0% |" in markdown
    assert "| 升级次数 / Escalations | 3 |" in markdown
    assert "| 曾升级的案件 / Escalated cases | 2 |" in markdown
    assert "| 本公司质量问题 (`our_quality`) | 1 | 20.0% |" in markdown
    assert "| `undetermined` | 1 | 20.0% |" in markdown
    assert "left out of the on-time rate" in markdown and "CP-5" in markdown and "CP-4" in markdown
