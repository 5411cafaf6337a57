"""The sweep against a real SQLite database and SMTP sink, on a controlled clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from aftersales.config.settings import Settings
from aftersales.gates.lifecycle import notify_gate
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import REQUEST_GRACE, sweep
from models import Case, Gate, Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_waiting_gate(opened: datetime, kind: str, role: str, deadline: datetime) -> tuple[int, int]:
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", product_model="PT-3000", problem_description="坏了",
                    procedure="repair", number="RP-TEST-00001", opened_at=opened)
        session.add(case)
        session.flush()
        assert case.id is not None
        gate = Gate(case_id=case.id, key="execution#1.1", kind=kind, input_model="ExecutionInput",
                    assignee_role=role, opened_at=opened, deadline_at=deadline, remind_at=None, due_at=deadline)
        session.add(gate)
        session.flush()
        assert gate.id is not None
        return case.id, gate.id


def test_a_late_gate_escalates_across_a_weekend_on_working_hours(settings: Settings) -> None:
    friday_evening = datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI)
    _, gate_id = make_waiting_gate(friday_evening - timedelta(hours=2), "repair.triage", "customer_service",
                                   friday_evening)
    with MailSink():
        report = sweep(friday_evening + timedelta(minutes=1), resend=False, resume=False)
    assert report.escalated == [gate_id]
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None
    # 4 working hours from Friday 16:01: 1 h 29 min on Friday, the rest on Monday from 08:30 -> 11:01.
    assert gate.deadline_at == datetime(2026, 11, 30, 11, 1, tzinfo=SHANGHAI)
    assert gate.assignee_role == "after_sales_supervisor" and gate.rung == 1


def test_a_gate_born_due_is_not_escalated_before_its_own_request_goes_out(settings: Settings) -> None:
    # The flow opens a gate, then tells its people in the next task; a gate due at once (a regulator's report)
    # must reach its own assignee first, or the escalation's holder would be the only one told.
    opened = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)
    _, gate_id = make_waiting_gate(opened, "repair.triage", "customer_service", opened)
    with MailSink():
        assert sweep(opened + timedelta(seconds=5), resend=False, resume=False).escalated == []
        notify_gate(gate_id, "request", now=opened + timedelta(seconds=6))
        assert sweep(opened + timedelta(seconds=7), resend=False, resume=False).escalated == [gate_id]
    with session_scope() as session:
        told = [(n.recipient, n.key.split(":")[2]) for n in session.exec(select(Notification).order_by(
            col(Notification.id))).all()]
    assert told[0] == ("li.na", "request") and told[-1][1] == "escalated", told


def test_a_gate_whose_request_never_went_out_is_escalated_after_the_grace(settings: Settings) -> None:
    # The run died between opening the gate and telling its people: the gate still climbs its ladder.
    opened = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)
    _, gate_id = make_waiting_gate(opened, "repair.triage", "customer_service", opened)
    with MailSink():
        assert sweep(opened + REQUEST_GRACE - timedelta(seconds=1), resend=False, resume=False).escalated == []
        assert sweep(opened + REQUEST_GRACE, resend=False, resume=False).escalated == [gate_id]
