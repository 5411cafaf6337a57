"""With the Prefect API away, updating the Prefect view of a case never stops a gate, an answer or the sweep."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from aftersales.cases import prefect_view
from aftersales.config.settings import Settings
from aftersales.gates import lifecycle, links
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import sweep
from models import Case, Gate


class Kept(logging.Handler):
    """Keeps the messages logged to it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday


def test_gates_answers_and_the_sweep_go_on_and_say_why_the_view_was_not_updated(
        settings: Settings, no_prefect: str) -> None:
    warnings = Kept()
    logging.getLogger("aftersales.cases.prefect_view").addHandler(warnings)  # Prefect's logging config
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", customer_email="c@example.com", product_model="PT-3000",
                    problem_description="坏了", procedure="repair", number="RP-OFF-00001", opened_at=OPENED,
                    flow_run_id=str(uuid.uuid4()))  # a run the view would update, on a server that is away
        session.add(case)
        session.flush()
        case_id = case.id
    assert case_id is not None
    with MailSink():
        gate_id = lifecycle.open_gate(case_id=case_id, key="triage", kind="repair.triage",
                                      input_model="TriageInput", flow_run_id=None, summary=[], now=OPENED)
        assert sweep(OPENED + timedelta(hours=3), resend=False, resume=False).escalated == [gate_id]
        link = links.issue_link(gate_id, "chen.jing")
        started = time.monotonic()
        links.answer_by_link(gate_id, parse_qs(urlparse(link).query)["t"][0],
                             {"urgent": "false", "complexity": "general", "man_made_damage": "false",
                              "warranty": "auto", "remote_possible": "true"})
        assert time.monotonic() - started < 10, "the answer did not wait for Prefect"
    prefect_view.settle()
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None and gate.status == "answered" and gate.answered_person == "chen.jing"
        assert gate.context["missed_deadline_at"], "escalated for a missed deadline: the step was late"
    logging.getLogger("aftersales.cases.prefect_view").removeHandler(warnings)
    assert any("Prefect view of case" in m and "not updated" in m for m in warnings.messages), warnings.messages


def test_a_step_at_the_top_of_its_ladder_is_marked_late_once_when_its_deadline_passes(
        settings: Settings, no_prefect: str) -> None:
    with session_scope() as session:
        case = Case(customer_name="客户", customer_phone="139", product_model="PT-3000", problem_description="坏了",
                    procedure="complaint", number="CP-OFF-00001", opened_at=OPENED)
        session.add(case)
        session.flush()
        case_id = case.id
    assert case_id is not None
    with MailSink():  # the GM's step has no rung above it: no escalation moves its deadline
        gate_id = lifecycle.open_gate(case_id=case_id, key="appointment", kind="complaint.inspection_appointment",
                                      input_model="InspectionAppointmentInput", flow_run_id=None, summary=[],
                                      now=OPENED)
        with session_scope() as session:
            gate = session.get(Gate, gate_id)
            assert gate is not None
            deadline = gate.deadline_at
        assert sweep(deadline - timedelta(minutes=1), resend=False, resume=False).late == []
        assert sweep(deadline + timedelta(minutes=1), resend=False, resume=False).late == [gate_id]
        assert sweep(deadline + timedelta(minutes=2), resend=False, resume=False).late == [], "marked once"
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None and gate.rung == 0 and gate.context["missed_deadline_at"] == deadline.isoformat()
        assert gate.context["summary"] == [], "the gate's other context stays"
