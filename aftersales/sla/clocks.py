"""Case clocks: deadlines that run across a case's steps (declared by each procedure), standing still while the
case waits on the customer (a gate assigned to the customer, from its opening to its answer)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from aftersales.config.policy import get_policy
from aftersales.errors import NotFound
from aftersales.procedures import registry
from aftersales.rules.pauses import ClockState, Pause, clock_state
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.sla.deadlines import calendar_for, local_text
from models import Case, Gate


def customer_pauses(case_id: int) -> list[Pause]:
    """The case's waits on the customer (none when the policy lets the clocks run through them)."""
    if not get_policy().clocks.pause_while_waiting_on_customer:
        return []
    with session_scope() as session:
        rows = session.exec(select(Gate.opened_at, Gate.answered_at, Gate.status).where(
            Gate.case_id == case_id, col(Gate.customer_gate).is_(True),
            col(Gate.status).in_(("waiting", "answered")))).all()
    return [Pause(opened, answered if status == "answered" else None) for opened, answered, status in rows]


def case_clocks(case: Case, now: datetime | None = None) -> dict[str, ClockState]:
    """Every clock of the case at `now`, by name: its deadline moved by the customer's waits so far."""
    procedure = registry.find(case.procedure)
    source = procedure.clocks if procedure is not None else None
    started = source(case) if source is not None and case.id is not None else []
    if not started:
        return {}
    assert case.id is not None
    pauses = customer_pauses(case.id)
    calendar = calendar_for(get_policy())
    at = now or clock.now()
    return {name: clock_state(started_at=start, base_deadline=deadline, unit=unit, pauses=pauses, now=at,
                              calendar=calendar)
            for name, start, deadline, unit in started}


def clock_deadline(case_id: int, name: str, now: datetime | None = None) -> datetime | None:
    """A case clock's deadline moved by the customer's waits so far; None when the case has no such clock."""
    with session_scope() as session:
        case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case with id {case_id}")
    state = case_clocks(case, now).get(name)
    return state.deadline if state is not None else None


def clock_json(name: str, state: ClockState) -> dict[str, Any]:
    """A clock as the case page and the API show it."""
    policy = get_policy()
    return {
        "name": name, "started_at": state.started_at.isoformat(),
        "base_deadline_at": state.base_deadline.isoformat(), "deadline_at": state.deadline.isoformat(),
        "deadline_local": local_text(state.deadline, policy), "paused": state.is_paused,
        "paused_since": state.paused_since.isoformat() if state.paused_since else None,
        "paused_seconds": int(state.paused.total_seconds()),
        "remaining_seconds": int(state.remaining.total_seconds()), "remaining": _hours(state.remaining),
        "overdue": state.overdue,
    }


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 0 else f"{-hours:.1f} h overdue"
