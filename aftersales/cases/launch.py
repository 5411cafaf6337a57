"""Starting a case's flow run on its procedure's deployment; a failure leaves the case for the sweep to start."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select

from aftersales.cases import prefect_view
from aftersales.cases import store as cases
from aftersales.errors import IntegrationError
from aftersales.procedures import registry
from aftersales.runtime import clock
from aftersales.runtime.db import session_scope
from aftersales.runtime.prefect import run_deployment_once
from models import Case

log = logging.getLogger("aftersales.cases.launch")


def start_flow(number: str) -> str | None:
    """Create the flow run for a case (once: keyed by the case number); None when Prefect could not be reached."""
    with session_scope() as session:
        case = cases.get_case(session, number)
        parent = session.get(Case, case.parent_case_id) if case.parent_case_id else None
    procedure = registry.get(case.procedure)
    try:  # named and tagged after the case, so the Prefect UI finds it by number (a linked case: its parent's too)
        run_id = run_deployment_once(procedure.deployment, {"ref": {"case_number": number}}, f"case-{number}",
                                     run_name=prefect_view.run_name(number, case.procedure),
                                     tags=prefect_view.start_tags(case.procedure, parent.number if parent else None))
    except IntegrationError as exc:  # the case is stored; the sweep starts it when Prefect answers
        log.warning("could not start flow for %s: %s", number, exc)
        cases.update_case(number, data={"flow_start_error": str(exc)[:300]})
        cases.record_event(case.id or 0, "flow_start_failed", "notice", f"flow not started yet: {exc}"[:900])
        return None
    cases.update_case(number, flow_run_id=run_id)
    return run_id


def start_unstarted(now: datetime | None = None, *, older_than: timedelta = timedelta(seconds=30)) -> list[str]:
    """Start every open case whose flow never started (Prefect was away at intake); returns their numbers.

    Only cases older than `older_than`, so a case being opened this very moment is left to its intake.
    """
    at = now or clock.now()
    with session_scope() as session:
        numbers = session.exec(select(Case.number).where(col(Case.flow_run_id).is_(None), Case.status == "open",
                                                         col(Case.closed_at).is_(None),
                                                         col(Case.opened_at) <= at - older_than)).all()
    started = [n for n in numbers if n is not None and start_flow(n) is not None]
    for number in started:
        log.info("started the flow of %s, which had not started at intake", number)
    return started
