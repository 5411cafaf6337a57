"""The Prefect adapter: every call the platform makes to the Prefect API goes through here.

Outside failures become `IntegrationError`, so callers deal with one error type and nothing else imports
Prefect's client (flows and tasks still use Prefect's decorators and in-run helpers directly).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from aftersales.errors import IntegrationError

log = logging.getLogger("aftersales.runtime.prefect")

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


def run_deployment_once(deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
    """Create a flow run of a deployment (once per key, the server deduplicates); returns its id."""
    from prefect.deployments import run_deployment

    try:
        # _sync: a caller with a running event loop would otherwise get an un-awaited coroutine back.
        # as_subflow=False: a case opened from a flow (a complaint's linked repair or return) runs on its own;
        # as a subflow its first gate fails ("Cannot suspend subflows").
        run = run_deployment(deployment, parameters=parameters, timeout=0, idempotency_key=idempotency_key,
                             as_subflow=False, _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - any client or server failure is the same to callers
        raise IntegrationError(f"could not start {deployment}: {exc}") from exc
    return str(run.id)  # type: ignore[union-attr]


def flow_run_state(flow_run_id: str) -> tuple[str | None, str | None]:
    """The run's state type name (e.g. 'PAUSED') and the pause key it waits on, if any."""
    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
    except Exception as exc:  # noqa: BLE001
        raise IntegrationError(f"Prefect API unreachable: {exc}") from exc
    if run.state is None:
        return None, None
    return run.state.type.value, run.state.state_details.pause_key


def resume_run(flow_run_id: str, run_input: dict[str, Any] | None) -> None:
    """Resume a suspended run with the typed answer it waits for."""
    from prefect.flow_runs import resume_flow_run

    try:
        resume_flow_run(UUID(flow_run_id), run_input=run_input, _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - any API failure is retried by the sweep
        raise IntegrationError(f"could not resume flow run {flow_run_id}: {exc}") from exc


def publish_markdown(key: str, markdown: str, description: str) -> None:
    """A markdown artifact of the current run (keys: lowercase letters, digits and dashes)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=markdown, key=key, description=description)
