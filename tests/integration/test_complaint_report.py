"""The monthly complaint report (004:475) against a real SQLite database and SMTP sink."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from aftersales.cases.reports import complaint_facts, monthly_complaint_report, report_markdown
from aftersales.config.settings import Settings
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from models import Case, CaseEvent, Escalation, Gate, MailboxMessage, Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGERS = ["liu.yang@example.com", "sun.li@example.com", "wang.fang@example.com"]  # staff.yaml
REPORT_DAY = date(2026, 12, 9)  # the scheduled run in December reports November


def add_case(number: str, closed: datetime | None, *, procedure: str = "complaint", category: str = "product_quality",
             responsibility: str | None = "our_quality", overseas: bool = False, late: bool = False,
             status: str = "closed", escalations: int = 0, immediate: bool = False) -> int:
    opened = (closed or datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)) - timedelta(days=4)
    close_by = opened + timedelta(days=7 if overseas else 5)
    if late:
        close_by = (closed or opened) - timedelta(hours=2)
    data: dict[str, Any] = {"close_by": close_by.isoformat()}
    if procedure == "complaint":
        data["complaint"] = {"category": category, "customer_demand": "赔偿", "overseas": overseas}
    if responsibility:
        data["responsibility"] = responsibility
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", product_model="PT-3000", problem_description="坏了",
                    procedure=procedure, number=number, status=status, opened_at=opened, closed_at=closed, data=data)
        session.add(case)
        session.flush()
        assert case.id is not None
        if escalations:
            gate = Gate(case_id=case.id, key="verification", kind="complaint.verification",
                        input_model="VerificationInput", assignee_role="general_manager", status="answered",
                        opened_at=opened, deadline_at=opened + timedelta(hours=4))
            session.add(gate)
            session.flush()
            assert gate.id is not None
            for rung in range(1, escalations + 1):
                session.add(Escalation(gate_id=gate.id, case_id=case.id, at=opened + timedelta(hours=4 * rung),
                                       from_role="customer_service", to_role="after_sales_manager", rung=rung,
                                       reason="deadline passed"))
        if immediate:
            session.add(CaseEvent(case_id=case.id, key="immediate", kind="escalation", at=opened,
                                  summary=f"category {category} is escalated at once (F1:200-202)"))
        return case.id


def november_complaints() -> None:
    nov = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
    add_case("CP-20261112-00001", nov)
    add_case("CP-20261112-00002", nov + timedelta(days=1), category="staff_attitude", responsibility="our_service",
             escalations=2)
    add_case("CP-20261112-00003", nov + timedelta(days=2), category="quality_safety", overseas=True,
             responsibility="supplier", immediate=True)
    add_case("CP-20261112-00004", nov + timedelta(days=3), category="slow_return_repair", responsibility=None,
             late=True)
    # 00:30 on 1 November in Shanghai is still 31 October in UTC: it belongs to November all the same.
    add_case("CP-20261028-00005", datetime(2026, 11, 1, 0, 30, tzinfo=SHANGHAI), responsibility=None,
             status="unfounded")
    # Not November's: closed on 1 December in Shanghai (30 November in UTC), still open, closed in October, a repair.
    add_case("CP-20261126-00006", datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI))
    add_case("CP-20261126-00007", None, status="open")
    add_case("CP-20261020-00008", datetime(2026, 10, 31, 23, 0, tzinfo=SHANGHAI))
    add_case("RP-20261110-00009", nov, procedure="repair")


def test_the_report_counts_only_complaints_closed_last_month_in_company_time(settings: Settings) -> None:
    november_complaints()

    stats = monthly_complaint_report(REPORT_DAY, send=False)

    assert stats.month == "2026-11" and stats.total == 5
    assert stats.by_category == {"product_quality": 2, "quality_safety": 1, "slow_return_repair": 1,
                                 "staff_attitude": 1}
    assert stats.by_responsibility == {"undetermined": 2, "our_quality": 1, "our_service": 1, "supplier": 1}
    assert stats.by_status == {"closed": 4, "unfounded": 1}
    assert (stats.on_time, stats.measured, stats.late) == (4, 5, ("CP-20261112-00004",))
    assert (stats.escalated_cases, stats.escalations) == (1, 2)
    assert stats.overseas == 1 and stats.immediate == 1


def test_each_manager_receives_the_report_once_per_month(settings: Settings) -> None:
    november_complaints()
    received: list[MailboxMessage] = []

    with MailSink(on_message=received.append):
        monthly_complaint_report(REPORT_DAY)
        monthly_complaint_report(REPORT_DAY)  # a retried or manual run sends nothing twice

    assert sorted(m.rcpt_to for m in received) == MANAGERS
    wang_fang = next(m for m in received if m.rcpt_to == "wang.fang@example.com")
    assert wang_fang.subject == "客户投诉月度统计 2026-11：结案 5 件，按期结案率 80.0%"
    assert "4 / 5" in wang_fang.html and "CP-20261112-00004" in wang_fang.html and "本公司质量问题" in wang_fang.html
    with session_scope() as session:
        rows = session.exec(select(Notification).where(Notification.template == "complaint_report")).all()
    plain = next(r.body for r in rows if r.recipient == "wang.fang")  # the text alternative as rendered
    assert "按期结案：4 / 5（按期结案率 80.0%）" in plain and "逾期结案：1（CP-20261112-00004）" in plain
    assert "曾升级的案件：1（共升级 2 次）" in plain and "- 本公司质量问题：1" in plain
    assert sorted(r.key for r in rows) == [f"complaint-report:2026-11:{p}:0" for p in ("liu.yang", "sun.li",
                                                                                       "wang.fang")]
    assert all(r.status == "sent" for r in rows)


def test_an_empty_month_is_still_reported(settings: Settings) -> None:
    received: list[MailboxMessage] = []

    with MailSink(on_message=received.append):
        stats = monthly_complaint_report(date(2027, 1, 9))

    assert stats.month == "2026-12" and stats.total == 0 and stats.on_time_rate is None
    assert len(received) == 3 and all("没有结案的投诉案件" in m.html for m in received)
    assert "| 按期结案率 / On-time rate | n/a |" in report_markdown(stats)


def test_a_case_closed_exactly_at_midnight_opens_the_new_month(settings: Settings) -> None:
    add_case("CP-20261126-00010", datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI))

    assert complaint_facts(date(2026, 11, 1), date(2026, 11, 30)) == []
    assert [f.number for f in complaint_facts(date(2026, 12, 1), date(2026, 12, 31))] == ["CP-20261126-00010"]
