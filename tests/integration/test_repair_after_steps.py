"""Steps the sweep opens beside a repair's flow: the spare unit (004:355) and the scheduled follow-up visit
(F2:79, 5-7 days after hand-over), on a real SQLite database and SMTP sink with a controlled clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from aftersales.cases import store as cases
from aftersales.config.settings import Settings
from aftersales.gates import lifecycle, links
from aftersales.gates.tokens import LinkRefused
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import sweep
from models import Case, CaseEvent, Gate, MailboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORTED = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # a Monday


def repair_case(number: str = "RP-TEST-00001") -> int:
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", customer_email="c@example.com",
                    product_model="PT-3000", problem_description="坏了", procedure="repair", number=number,
                    opened_at=REPORTED)
        session.add(case)
        session.flush()
        assert case.id is not None
        return case.id


def waiting_on(case_id: int, kind: str, key: str = "work") -> int:
    """The flow suspended on a work step (a gate with its run)."""
    return lifecycle.open_gate(case_id=case_id, key=key, kind=kind, input_model="ExecutionInput",
                               flow_run_id="run-1", summary=[], now=REPORTED + timedelta(hours=1))


def gate_of(case_id: int, key: str) -> Gate | None:
    with session_scope() as session:
        return session.exec(select(Gate).where(Gate.case_id == case_id, Gate.key == key)).first()


def quiet_sweep(at: datetime) -> list[int]:
    return sweep(at, resend=False, resume=False).spare_unit_gates


@pytest.mark.parametrize("work_gate", ["repair.execution", "repair.qa_test"], ids=["on-site", "factory-return"])
def test_a_repair_not_done_12_hours_after_the_report_opens_the_spare_unit_step_once_004_355(
    settings: Settings, work_gate: str
) -> None:
    """004:355 "在12小时规定时间内不能修复解决问题的,保证在24小时内免费提供备用机(件)": on either path."""
    case_id = repair_case()
    waiting_on(case_id, work_gate)
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        assert quiet_sweep(REPORTED + timedelta(hours=11, minutes=59)) == []
        assert quiet_sweep(REPORTED + timedelta(hours=12, minutes=1)) == [case_id]
        assert quiet_sweep(REPORTED + timedelta(hours=13)) == []
    spare = gate_of(case_id, "spare_unit")
    assert spare is not None
    assert (spare.kind, spare.assignee_role, spare.status) == ("repair.spare_unit", "service_engineer", "waiting")
    assert spare.flow_run_id is None, "no flow waits on it: its flow is suspended on the work gate"
    assert spare.deadline_at == REPORTED + timedelta(hours=24), "lent within 24 h of the report (004:355)"
    assert [m.rcpt_to for m in received] == ["zhang.wei@example.com"]
    assert "备用机" in received[0].subject


def test_a_repair_still_in_triage_or_closed_gets_no_spare_unit_question(settings: Settings) -> None:
    waiting_on(repair_case("RP-TEST-00001"), "repair.triage")
    closed = repair_case("RP-TEST-00002")
    waiting_on(closed, "repair.execution")
    cases.update_case("RP-TEST-00002", status="closed", closed=True)
    with MailSink():
        assert quiet_sweep(REPORTED + timedelta(hours=13)) == []


def test_the_spare_unit_answer_is_kept_on_the_case_and_resumes_nothing(settings: Settings) -> None:
    """004:355: whether a spare unit was lent, its serial — recorded on the case from the link."""
    case_id = repair_case()
    work = waiting_on(case_id, "repair.execution")
    with MailSink():
        quiet_sweep(REPORTED + timedelta(hours=12, minutes=1))
        spare = gate_of(case_id, "spare_unit")
        assert spare is not None and spare.id is not None
        link = links.issue_link(spare.id, "zhang.wei", now=REPORTED + timedelta(hours=13))
        links.answer_by_link(spare.id, link.split("?t=")[1], {"lent": True, "spare_serial_number": "SP-77"},
                             now=REPORTED + timedelta(hours=14))
    with session_scope() as session:
        case = session.get(Case, case_id)
        assert case is not None
        history = [e.key for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()]
    assert case.data["spare_unit"]["lent"] is True and case.data["spare_unit"]["spare_serial_number"] == "SP-77"
    assert "gate:spare_unit:answered" in history
    answered = gate_of(case_id, "spare_unit")
    assert answered is not None and answered.status == "answered" and answered.resumed_at is not None
    flow_gate = gate_of(case_id, "work")
    assert flow_gate is not None and flow_gate.id == work and flow_gate.status == "waiting"


def test_a_spare_unit_question_nobody_answers_escalates_like_any_gate(settings: Settings) -> None:
    case_id = repair_case()
    waiting_on(case_id, "repair.execution")
    with MailSink():
        quiet_sweep(REPORTED + timedelta(hours=12, minutes=1))
        spare = gate_of(case_id, "spare_unit")
        assert spare is not None
        report = sweep(REPORTED + timedelta(hours=24, minutes=1), resend=False, resume=False)
    assert spare.id in report.escalated
    climbed = gate_of(case_id, "spare_unit")
    assert climbed is not None and climbed.assignee_role == "after_sales_supervisor"


def test_the_follow_up_visit_is_not_sent_before_day_5_after_hand_over_and_is_due_on_day_7(settings: Settings) -> None:
    """F2:79 revisit after the problem is solved; [CHOICE] the 5-7 days of F2:60, counted from hand-over."""
    case_id = repair_case()
    handed_over = REPORTED + timedelta(days=2)
    gate_id = lifecycle.open_gate(case_id=case_id, key="follow_up", kind="repair.follow_up",
                                  input_model="FollowUpInput", flow_run_id="run-1", summary=[],
                                  now=handed_over + timedelta(hours=1), opens_at=handed_over + timedelta(days=5),
                                  deadline_at=handed_over + timedelta(days=7))
    received: list[MailboxMessage] = []
    with MailSink(on_message=received.append):
        assert lifecycle.notify_gate(gate_id) == 0, "a scheduled gate sends nothing"
        with pytest.raises(LinkRefused):
            links.answer_by_link(gate_id, links.issue_link(gate_id, "li.na").split("?t=")[1],
                                 {"contacted": True, "visited_on": "2026-11-26"})
        assert sweep(handed_over + timedelta(days=4, hours=23), resend=False, resume=False).opened == []
        assert received == []
        assert sweep(handed_over + timedelta(days=5, minutes=1), resend=False, resume=False).opened == [gate_id]
        assert sweep(handed_over + timedelta(days=5, minutes=2), resend=False, resume=False).opened == []
    visit = gate_of(case_id, "follow_up")
    assert visit is not None
    assert (visit.status, visit.opened_at, visit.deadline_at) == (
        "waiting", handed_over + timedelta(days=5), handed_over + timedelta(days=7))
    assert [m.rcpt_to for m in received] == ["li.na@example.com"]
