"""A complaint nobody answers climbs its ladder at business times, each message once (controlled clock)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from aftersales.cases import store as cases
from aftersales.cases.view import case_view
from aftersales.config.settings import Settings
from aftersales.gates import lifecycle, links
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import escalate_to_top, sweep
from models import CaseCreate, Gate, MailboxMessage
from models.complaint import ComplaintDetails

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Thursday 24 Sep 2026, 10:00; Fri 25 - Sun 27 Sep 2026 are the Mid-Autumn rest days (chinesecalendar).
OPENED = datetime(2026, 9, 24, 10, 0, tzinfo=SHANGHAI)


def complaint_gate(category: str = "product_quality") -> int:
    case = cases.open_case(CaseCreate(
        procedure="complaint", customer_name="客户", customer_phone="139", customer_email="c@example.com",
        product_model="PT-3000", problem_description="维修后仍有异响", purchase_date=date(2025, 3, 1),
        complaint=ComplaintDetails(category=category, customer_demand="退款"),  # type: ignore[arg-type]
    ), now=OPENED)
    assert case.id is not None
    return lifecycle.open_gate(case_id=case.id, key="first_response", kind="complaint.first_response",
                           input_model="FirstResponseInput", flow_run_id=None, summary=[], now=OPENED)


def gate(gate_id: int) -> Gate:
    with session_scope() as session:
        found = session.get(Gate, gate_id)
        assert found is not None
        return found


def at(month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def test_an_unanswered_complaint_climbs_every_rung_across_the_holiday_weekend(settings: Settings) -> None:
    gate_id = complaint_gate()
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        assert gate(gate_id).deadline_at == at(9, 25, 10, 0)  # 24 natural hours (F1:222)
        # The reminder of the first 24 h would fall in the night of the holiday: held, then dropped as too late.
        assert sweep(at(9, 25, 9, 59), resend=False, resume=False).escalated == []

        assert sweep(at(9, 25, 10, 1), resend=False, resume=False).escalated == [gate_id]
        # Rung 1 (督查员) has 4 working hours: the holiday weekend does not count -> Monday 28 Sep 12:30.
        assert (gate(gate_id).assignee_role, gate(gate_id).deadline_at) == ("after_sales_supervisor", at(9, 28, 12, 30))
        assert sweep(at(9, 26, 15, 0), resend=False, resume=False).escalated == []  # nothing on the holiday
        # Its reminder is held to the first working moment, Monday 08:30, and goes out once.
        assert gate(gate_id).remind_at == at(9, 28, 8, 30)
        assert sweep(at(9, 28, 8, 31), resend=False, resume=False).reminded == [gate_id]
        assert sweep(at(9, 28, 8, 40), resend=False, resume=False).reminded == []

        assert sweep(at(9, 28, 12, 31), resend=False, resume=False).escalated == [gate_id]
        assert (gate(gate_id).assignee_role, gate(gate_id).deadline_at) == ("after_sales_manager", at(9, 28, 16, 31))
        assert sweep(at(9, 28, 16, 32), resend=False, resume=False).escalated == [gate_id]
        # The GM (top rung) has 1 working day: the end of Tuesday 29 Sep.
        assert (gate(gate_id).assignee_role, gate(gate_id).deadline_at) == ("general_manager", at(9, 29, 17, 30))
        assert sweep(at(9, 30, 9, 0), resend=False, resume=False).escalated == [], "no rung above the top"
        for _ in range(3):
            sweep(at(9, 30, 10, 0), resend=False, resume=False)

    by_person = {m.rcpt_to: [x.subject for x in received if x.rcpt_to == m.rcpt_to] for m in received}
    assert len(by_person["chen.jing@example.com"]) == 2  # escalated to her, then reminded: each once
    assert len(by_person["wang.fang@example.com"]) == 1
    # The GM: the escalation, then one reminder (overdue: no sweep ran inside the window), not one per sweep.
    assert len(by_person["liu.yang@example.com"]) == 2
    assert "已升级" in by_person["liu.yang@example.com"][0] and "已逾期" in by_person["liu.yang@example.com"][1]
    with session_scope() as session:
        from sqlmodel import select

        from models import Escalation

        climbed = session.exec(select(Escalation).where(Escalation.gate_id == gate_id)).all()
    assert [(e.rung, e.to_role) for e in climbed] == [(1, "after_sales_supervisor"), (2, "after_sales_manager"),
                                                      (3, "general_manager")]
    assert all("deadline" in e.reason for e in climbed)


def test_an_answered_gate_stops_the_climb(settings: Settings) -> None:
    gate_id = complaint_gate()
    link = links.issue_link(gate_id, "li.na", now=OPENED)
    with MailSink():
        links.answer_by_link(gate_id, link.split("?t=")[1], {"response": "已致电客户"}, now=at(9, 24, 11, 0))
        report = sweep(at(9, 29, 12, 0), resend=False, resume=False)
    assert report.escalated == [] and report.reminded == []
    assert gate(gate_id).rung == 0 and gate(gate_id).status == "answered"


def test_an_immediate_category_goes_to_the_top_at_once_and_only_once(settings: Settings) -> None:
    gate_id = complaint_gate("quality_safety")
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        assert escalate_to_top(gate_id, "category quality_safety is escalated at once (F1:200-202)", OPENED)
        assert not escalate_to_top(gate_id, "replayed", OPENED)
        assert sweep(at(9, 25, 12, 0), resend=False, resume=False).escalated == []
    assert (gate(gate_id).rung, gate(gate_id).assignee_role) == (3, "general_manager")
    assert [m.rcpt_to for m in received] == ["liu.yang@example.com"]
    view = case_view(cases.case_view_number(gate(gate_id).case_id))
    assert view["escalations"][0]["reason"].startswith("category quality_safety")


def test_a_serious_grievance_goes_to_the_deputy_gm_and_climbs_to_the_gm_when_late(settings: Settings) -> None:
    """004:407 「情节重大者,技术部应即提呈副总经理核阅或核转」: the deputy GM first, then the GM ([CHOICE] rung)."""
    case = cases.open_case(CaseCreate(
        procedure="complaint", customer_name="客户", customer_phone="139", customer_email="c@example.com",
        product_model="PT-3000", problem_description="服务人员与客户争执", purchase_date=date(2025, 3, 1),
        complaint=ComplaintDetails(category="serious_grievance", customer_demand="道歉"),
    ), now=OPENED)
    assert case.id is not None
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        gate_id = lifecycle.open_gate(case_id=case.id, key="deputy_gm_review", kind="complaint.deputy_gm_review",
                                      input_model="DeputyReviewInput", flow_run_id=None, summary=[], now=OPENED)
        lifecycle.notify_gate(gate_id, now=OPENED)
        assert (gate(gate_id).assignee_role, gate(gate_id).deadline_at) == ("deputy_general_manager", at(9, 24, 14, 0))
        assert sweep(at(9, 24, 14, 1), resend=False, resume=False).escalated == [gate_id]
    assert gate(gate_id).assignee_role == "general_manager"
    assert [m.rcpt_to for m in received] == ["huang.tao@example.com", "liu.yang@example.com"]
