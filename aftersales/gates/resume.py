"""Resuming the flow run that waits on a gate: once, with the recorded answer, retried by the sweep."""

from __future__ import annotations

import logging
import re
import time
from typing import TypeVar

from sqlalchemy import update
from sqlmodel import col, select

from aftersales.errors import IntegrationError
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.runtime.prefect import FINAL_STATES, flow_run_state, resume_run
from models import Case, Gate, GateGroup, GateSeries
from models.inputs import GATE_INPUTS, for_prefect

log = logging.getLogger("aftersales.gates.resume")
Waited = TypeVar("Waited", GateGroup, GateSeries)  # what a run can wait on besides one gate


def pause_key(gate_key: str) -> str:
    """The Prefect pause key of a gate, so a resume can tell which wait it answers."""
    # Prefect keys allow only lowercase letters, digits and dashes: 'execution#1.2' -> 'gate-execution-1-2'.
    return "gate-" + re.sub(r"[^a-z0-9]+", "-", gate_key.lower()).strip("-")


def resume_gate(gate_id: int, *, wait_seconds: float = 0.0) -> bool:
    """Resume the run suspended on this gate with the recorded answer, once; True when this call resumed it.

    The flow sends its message a moment before it suspends, so an answer can arrive while the run is still
    running: then this waits up to `wait_seconds` for the suspension (the sweep retries later otherwise).
    A run suspended on another gate, or finished, has already read the answer from the database itself.
    """
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        if gate is None or gate.status != "answered" or gate.resumed_at is not None:
            return False
    if gate.group_id is not None:  # a wait in parallel: the group resumes the run once it joins
        from aftersales.gates.groups import member_answered

        return member_answered(gate, wait_seconds=wait_seconds)
    if gate.series_id is not None:  # one day of a recurring wait: only the report that ends it resumes the run
        from aftersales.gates.series import occurrence_answered

        return occurrence_answered(gate, wait_seconds=wait_seconds)
    if not gate.flow_run_id:
        record_detached_answer(gate)
        return False
    deadline = time.monotonic() + wait_seconds
    while True:
        state_type, key = flow_run_state(gate.flow_run_id)
        if state_type == "PAUSED" and key == pause_key(gate.key):
            break
        if state_type == "PAUSED" or state_type in FINAL_STATES:
            mark_resumed(gate_id)
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    # Prefect keeps a run's input: it gets the decision, not what a person typed (the flow reads the database).
    model = GATE_INPUTS.get(gate.input_model)
    resume_run(gate.flow_run_id, for_prefect(model, gate.answer or {}) if model else gate.answer)
    mark_resumed(gate_id)
    return True


def record_detached_answer(gate: Gate) -> None:
    """A gate no flow waits on (opened by the sweep or beside a flow's own wait, e.g. the spare unit): its answer
    is kept on the case under the gate's key and nothing is resumed; marked so the sweep does not ask again."""
    from aftersales.cases.store import update_case  # the store imports nothing of the gates; keep it that way

    with session_scope() as session:
        case = session.get(Case, gate.case_id)
    if case is not None and case.number is not None and gate.answer is not None:
        update_case(case.number, data={gate.key: dict(gate.answer)})
    assert gate.id is not None
    mark_resumed(gate.id)


def resume_soon(gate_id: int) -> None:
    """Resume after an answer from a link; when Prefect is away the answer is safe and the sweep resumes later."""
    try:
        resume_gate(gate_id, wait_seconds=15)
    except IntegrationError as exc:
        log.warning("resume of gate %s deferred: %s", gate_id, exc)


def mark_resumed(gate_id: int) -> None:
    """Remember that the run no longer needs a resume for this gate."""
    with session_scope() as session:
        session.execute(update(Gate).where(col(Gate.id) == gate_id, col(Gate.resumed_at).is_(None))
                        .values(resumed_at=clock.now()))


def retry_resumes() -> list[int]:
    """Resume runs whose answer was recorded but whose resume did not get through (API down, race)."""
    with session_scope() as session:
        pending = session.exec(select(Gate).where(Gate.status == "answered", col(Gate.resumed_at).is_(None))).all()
    resumed = []
    for gate in pending:
        assert gate.id is not None
        try:
            if resume_gate(gate.id):
                resumed.append(gate.id)
        except IntegrationError as exc:
            log.warning("resume of gate %s still failing: %s", gate.id, exc)
    return resumed


def resume_wait_once(model: type[Waited], row_id: int, done_status: str, prefix: str,
                     payload: dict[str, str], *, wait_seconds: float = 0.0) -> bool:
    """Resume the run waiting on a group or a series (pause keys '<prefix>-<n>') once it is `done_status`, once;
    True when this call resumed it.

    Like a gate's resume: a run not yet suspended is waited for up to `wait_seconds` (the sweep retries later);
    a run paused elsewhere or finished has read the outcome from the database itself.
    """
    with session_scope() as session:
        row = session.get(model, row_id)
        if row is None or row.status != done_status or row.resumed_at is not None:
            return False
        flow_run_id = row.flow_run_id
    if not flow_run_id:
        _mark_wait_resumed(model, row_id)
        return False
    deadline = time.monotonic() + wait_seconds
    while True:
        state_type, key = flow_run_state(flow_run_id)
        if state_type == "PAUSED" and key is not None and key.startswith(prefix + "-"):
            break
        if state_type == "PAUSED" or state_type in FINAL_STATES:
            _mark_wait_resumed(model, row_id)
            return False
        if time.monotonic() >= deadline or _wait_resumed_already(model, row_id):  # a simultaneous answer did it
            return False
        time.sleep(0.5)
    resume_run(flow_run_id, payload)
    _mark_wait_resumed(model, row_id)
    return True


def _wait_resumed_already(model: type[Waited], row_id: int) -> bool:
    with session_scope() as session:
        row = session.get(model, row_id)
        return row is None or row.resumed_at is not None


def _mark_wait_resumed(model: type[Waited], row_id: int) -> None:
    with session_scope() as session:
        session.execute(update(model).where(col(model.id) == row_id, col(model.resumed_at).is_(None))
                        .values(resumed_at=clock.now()))
