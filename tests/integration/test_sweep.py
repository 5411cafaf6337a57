"""The sweep against a real SQLite database and SMTP sink, on a controlled clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aftersales.config.settings import Settings
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import sweep
from models import Case, Gate

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
