"""Flow-test helpers: a driver bound to the running stack, and a way to open cases over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from aftersales.runtime.stack import Stack
from tests.conftest import stack_db
from tests.flows.driver import Driver
from tests.flows.faults import sweep_paused
from tests.signin import bearer


@pytest.fixture
def driver(stack_env: Stack) -> Driver:
    """Reads the stack's mail sink and answers links over HTTP."""
    return Driver(stack_db(stack_env), stack_env.config.web_url)


@pytest.fixture
def sweep_schedule_paused(stack_env: Stack) -> Iterator[None]:
    """Pause the stack's own minute sweep while a test drives the sweep with a clock of its own.

    The deployment sweeps at the real time: a gate the test put in the past is overdue to it, and it
    would remind or escalate the gate before the test's own sweep looks (seen in CI).
    """
    with sweep_paused():
        yield


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
