"""Flow-test helpers: a driver bound to the running stack, and a way to open cases over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from aftersales.runtime.stack import Stack
from tests.conftest import stack_db
from tests.flows.driver import Driver
from tests.signin import bearer


@pytest.fixture
def driver(stack_env: Stack) -> Driver:
    """Reads the stack's mail sink and answers links over HTTP."""
    return Driver(stack_db(stack_env), stack_env.config.web_url)


SWEEP_DEPLOYMENT = "escalation-sweep/escalation-sweep"


@pytest.fixture
def sweep_schedule_paused(stack_env: Stack) -> Iterator[None]:
    """Pause the stack's own minute sweep while a test drives the sweep with a clock of its own.

    The deployment sweeps at the real time: a gate the test put in the past is overdue to it, and it
    would remind or escalate the gate before the test's own sweep looks (seen in CI). Pausing deletes
    the schedule's waiting runs; a run already Pending or Running is waited out.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(SWEEP_DEPLOYMENT)
        client.pause_deployment(deployment.id)
        try:
            in_flight = FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING])))
            end = time.monotonic() + 180
            while client.read_flow_runs(flow_run_filter=in_flight, limit=1):
                assert time.monotonic() < end, "the stack's sweep run did not end within 180 s"
                time.sleep(1)
            yield
        finally:
            client.resume_deployment(deployment.id)


def new_case(stack: Stack, **overrides: Any) -> str:
    """Open a repair case through the public API and return its number."""
    body: dict[str, Any] = {
        "procedure": "repair", "customer_name": "测试客户", "customer_phone": "13900000000",
        "customer_email": "customer@example.com", "product_model": "PT-3000", "serial_number": "SN-T-1",
        "purchase_date": (date.today() - timedelta(days=100)).isoformat(),
        "problem_description": "无法开机", "channel": "hotline", "language": "zh",
    }
    body.update(overrides)
    response = httpx.post(f"{stack.config.web_url}/api/cases", json=body, timeout=60, headers=bearer())
    assert response.status_code == 201, response.text
    if not response.json()["flow_started"]:  # say why: the case keeps the error of its failed start
        case = httpx.get(f"{stack.config.web_url}/api/cases/{response.json()['number']}", timeout=60,
                         headers=bearer()).json()
        raise AssertionError(f"flow not started: {case['data'].get('flow_start_error')}")
    return str(response.json()["number"])
