"""Starting a procedure's flow run on its deployment; a failure leaves the case for the sweep to start."""

from __future__ import annotations

import logging

from aftersales.cases import store as cases

log = logging.getLogger("aftersales.runtime.prefect")

# Procedures whose flow runs here; the others are refused with a clear message until they do.
AVAILABLE_PROCEDURES = {"repair", "complaint", "return", "exchange"}


def deployment_name(procedure: str) -> str:
    """'<flow name>/<deployment name>' as prefect.yaml declares them."""
    return f"{procedure}/{procedure}"


def start_flow(number: str, procedure: str) -> str | None:
    """Create the flow run for a case; returns its id, or None when Prefect could not be reached."""
    from prefect.deployments import run_deployment

    try:
        # _sync: a caller with a running event loop would otherwise get an un-awaited coroutine back.
        run = run_deployment(deployment_name(procedure), parameters={"ref": {"case_number": number}}, timeout=0,
                             idempotency_key=f"case-{number}", _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - the case is stored; the sweep starts it when Prefect answers
        log.warning("could not start flow for %s: %s", number, exc)
        case = cases.update_case(number, data={"flow_start_error": str(exc)[:300]})
        cases.record_event(case.id or 0, "flow_start_failed", "notice", f"flow not started yet: {exc}"[:900])
        return None
    run_id = str(run.id)  # type: ignore[union-attr]
    cases.update_case(number, flow_run_id=run_id)
    return run_id
