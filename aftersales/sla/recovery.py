"""Flow runs of open cases that died with their process are run again; a case that still cannot run is marked
"needs attention" for operations, who retry it once the cause is fixed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from aftersales.cases import prefect_view
from aftersales.cases.store import get_case, record_event
from aftersales.config.policy import get_policy
from aftersales.errors import AftersalesError, IntegrationError
from aftersales.procedures import registry
from aftersales.rules.recovery import WATCHED_STATES, RunSeen, dead_reason, next_step
from aftersales.runtime import clock
from aftersales.runtime import prefect as orchestrator
from aftersales.runtime.db import session_scope
from models import Case, CaseEvent

log = logging.getLogger("aftersales.sla.recovery")
RECOVERY = "recovery"  # history kind of a rescheduled run
ATTENTION = "attention"  # history kind of a case handed to operations
# History lines that are no progress of the flow itself (the sweep writes them while the flow stands still).
NOT_PROGRESS = (RECOVERY, ATTENTION, "reminder", "escalation")


@dataclass
class RecoveryReport:
    """What one pass did: case numbers rescheduled and handed to operations."""

    rescheduled: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def recover_runs(now: datetime | None = None) -> RecoveryReport:
    """Find the dead runs of open cases (one query for all of them) and run each again, or hand it over.

    `now` is Prefect's clock, the real time: the sweep's own `now` may be moved by tests and reports.
    """
    at = now or datetime.now(UTC)
    rules = get_policy().recovery
    report = RecoveryReport()
    with session_scope() as session:
        rows = session.exec(select(Case.id, Case.number, Case.flow_run_id).where(
            col(Case.closed_at).is_(None), col(Case.flow_run_id).is_not(None),
            col(Case.needs_attention_at).is_(None))).all()
    cases = {run_id: (case_id, number) for case_id, number, run_id in rows if run_id and case_id and number}
    if not cases:
        return report
    pending_after = timedelta(minutes=rules.pending_minutes)
    silent_after = timedelta(minutes=rules.silent_minutes)
    flows = sorted({procedure.deployment.split("/", 1)[0] for procedure in registry.procedures()})
    runs = orchestrator.runs_in_states(list(cases), list(WATCHED_STATES), flows)
    quiet = [r.id for r in runs if r.state == "RUNNING" and at - r.since >= silent_after]
    beats = orchestrator.last_heartbeats(quiet, since=at - silent_after) if quiet else {}
    for run in runs:
        reason = dead_reason(RunSeen(run.state, run.since, beats.get(run.id)), at,
                             pending_after=pending_after, silent_after=silent_after)
        if reason is None:
            continue
        case_id, number = cases[run.id]
        try:
            if next_step(tries_since_progress(case_id), rules.max_tries) == "attention":
                if mark_attention(case_id, run, reason):
                    report.attention.append(number)
            elif reschedule(case_id, run, reason):
                report.rescheduled.append(number)
        except AftersalesError as exc:  # one case must not stop the others
            log.error("recovery of %s: %s", number, exc)
            report.errors.append(f"{number}: {exc}")
    return report


def tries_since_progress(case_id: int) -> int:
    """How many times the run was rescheduled since the flow last recorded a step of its own."""
    with session_scope() as session:
        kinds = session.exec(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)
                             .order_by(col(CaseEvent.id).desc())).all()
    tries = 0
    for kind in kinds:
        if kind not in NOT_PROGRESS:
            break
        tries += kind == RECOVERY
    return tries


def reschedule(case_id: int, run: orchestrator.RunStatus, reason: str) -> bool:
    """Run it again under its own id, once per dead state (the history line is the claim between sweeps)."""
    key = f"flow:recovered:{run.state_id}"
    summary = f"flow run {run.id} {reason}; run again" + (f" ({run.message})" if run.message else "")
    if not record_event(case_id, key, RECOVERY, summary[:1000], data={"flow_run_id": run.id, "state": run.state}):
        return False  # another sweep took it
    try:
        orchestrator.reschedule_run(run.id)
    except IntegrationError:
        with session_scope() as session:  # not done: let the next sweep claim it again
            session.execute(delete(CaseEvent).where(col(CaseEvent.case_id) == case_id, col(CaseEvent.key) == key))
        raise
    log.warning("case %s: %s", case_id, summary)
    return True


def mark_attention(case_id: int, run: orchestrator.RunStatus, reason: str) -> bool:
    """Hand the case to operations with the run and its error; the sweep leaves it alone from now on."""
    error = f"flow run {run.id} {reason} after {get_policy().recovery.max_tries} tries" + (
        f": {run.message}" if run.message else "")
    with session_scope() as session:
        marked = session.execute(update(Case).where(col(Case.id) == case_id, col(Case.needs_attention_at).is_(None))
                                 .values(needs_attention_at=clock.now(), attention_error=error[:1000]))
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record_event(case_id, f"flow:attention:{run.state_id}", ATTENTION, f"needs attention: {error}"[:1000],
                 data={"flow_run_id": run.id, "state": run.state})
    log.error("case %s needs attention: %s", case_id, error)
    prefect_view.refresh(case_id=case_id)
    return True


def retry_case(number: str, actor: str) -> str:
    """Operations retry a case: clear its mark and run its flow again (or start it); returns what was done."""
    from aftersales.cases.launch import start_flow

    with session_scope() as session:
        case = get_case(session, number)
        case_id, run_id, closed = case.id, case.flow_run_id, case.closed_at is not None
        case.needs_attention_at = None
        case.attention_error = None
        session.add(case)
    assert case_id is not None
    if closed:
        raise AftersalesError(f"case {number} is closed: nothing to retry")
    at = clock.now()
    if run_id is None:
        done = "flow started" if start_flow(number) else "flow could not be started yet (the sweep tries again)"
    else:
        state, _ = orchestrator.flow_run_state(run_id)
        if state in ("PAUSED", "SCHEDULED"):
            done = f"flow run {run_id} is {state.lower()}: nothing to run again"
        else:
            orchestrator.reschedule_run(run_id)
            done = f"flow run {run_id} ({(state or 'unknown').lower()}) run again"
    # A line of its own kind: progress for tries_since_progress, so the run gets the policy's tries again.
    record_event(case_id, f"flow:retried:{at.isoformat()}", "retry", f"retried by {actor}: {done}", actor=actor)
    prefect_view.refresh(case_id=case_id)
    return done


def attention_cases() -> list[Case]:
    """Open cases waiting for operations, oldest mark first."""
    with session_scope() as session:
        return list(session.exec(select(Case).where(col(Case.needs_attention_at).is_not(None),
                                                    col(Case.closed_at).is_(None))
                                 .order_by(col(Case.needs_attention_at))).all())
