"""Repair clocks as the sources count them: first contact in service hours, resolution from the request."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aftersales.cases import store as cases
from aftersales.config.settings import Settings
from aftersales.gates import lifecycle
from aftersales.runtime.db import session_scope
from flows.repair import resolution_due
from models import CaseCreate, Gate
from tests.integration.conftest import REPAIR_CASE

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _open(reported: datetime, urgent: bool = False) -> str:
    case = cases.open_case(CaseCreate.model_validate({**REPAIR_CASE, "urgent": urgent, "reported_at": reported}),
                           now=reported)
    assert case.number is not None
    return case.number


def _deadline(gate_id: int) -> datetime:
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None
        return gate.deadline_at


def test_a_report_at_night_is_contacted_two_service_hours_after_opening_not_at_night(settings: Settings) -> None:
    """F2:285 two hours, in the service hours of F1:292 (08:30-17:30)."""
    night = datetime(2026, 11, 24, 1, 41, tzinfo=SHANGHAI)  # a Tuesday
    case = cases.snapshot(_open(night))
    gate_id = lifecycle.open_gate(case_id=case.id, key="triage", kind="repair.triage", input_model="TriageInput",
                                  flow_run_id=None, summary=[], now=night)
    assert _deadline(gate_id) == datetime(2026, 11, 24, 10, 30, tzinfo=SHANGHAI)


def test_an_urgent_report_at_night_is_contacted_within_one_natural_hour(settings: Settings) -> None:
    """F2:101: urgent reports are answered within one hour, day or night."""
    night = datetime(2026, 11, 24, 1, 41, tzinfo=SHANGHAI)
    case = cases.snapshot(_open(night, urgent=True))
    gate_id = lifecycle.open_gate(case_id=case.id, key="triage", kind="repair.triage", input_model="TriageInput",
                                  flow_run_id=None, summary=[], now=night)
    assert _deadline(gate_id) == night + timedelta(hours=1)


def test_every_progress_step_shares_the_three_working_days_from_the_request(settings: Settings) -> None:
    """F1:164, F2:184: resolved within 3 working days of the request, however many progress reports it takes."""
    reported = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday
    case = cases.snapshot(_open(reported))
    due = resolution_due(case)
    assert due == datetime(2026, 11, 26, 17, 30, tzinfo=SHANGHAI)  # the third working day after, at closing
    first = lifecycle.open_gate(case_id=case.id, key="execution#1.1", kind="repair.execution",
                                input_model="ExecutionInput", flow_run_id=None, summary=[],
                                now=reported + timedelta(days=1), deadline_at=due)
    second = lifecycle.open_gate(case_id=case.id, key="execution#1.2", kind="repair.execution",
                                 input_model="ExecutionInput", flow_run_id=None, summary=[],
                                 now=reported + timedelta(days=2), deadline_at=due)
    assert _deadline(first) == _deadline(second) == due
