"""A procedure declared outside the platform runs through intake, a gate and closing on the real stack."""

from __future__ import annotations

import time

import httpx
import pytest

from aftersales.config.settings import PROJECT_ROOT
from aftersales.runtime.stack import POOL, Stack
from tests.flows.driver import Driver
from tests.signin import bearer

pytestmark = pytest.mark.stack

CASE = {"procedure": "toy", "customer_name": "测试客户", "customer_phone": "13900000000",
        "customer_email": "customer@example.com", "product_model": "PT-3000", "problem_description": "想要",
        "channel": "hotline", "language": "zh"}


def test_a_procedure_declared_in_the_tests_runs_from_intake_through_a_gate_to_closing(stack_env: Stack,
                                                                                     driver: Driver) -> None:
    from tests.flows.toy_procedure import toy

    # _sync: Prefect's dispatch would hand back a coroutine where an event loop runs in this thread.
    source = toy.from_source(source=str(PROJECT_ROOT), entrypoint="tests/flows/toy_procedure.py:toy",
                             _sync=True)  # type: ignore[call-overload]
    source.deploy(name="toy", work_pool_name=POOL, build=False, push=False, print_next_steps=False,
                  _sync=True)
    api = f"{stack_env.config.web_url}/api/cases"

    missing = httpx.post(api, json=CASE, timeout=60, headers=bearer())
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "wish"]
    bad = httpx.post(api, json={**CASE, "wish": {"text": "a pony", "size": 99}}, timeout=60, headers=bearer())
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "wish", "size"]
    refused = httpx.post(api, json={**CASE, "wish": {"text": "forbidden", "size": 1}}, timeout=60, headers=bearer())
    assert refused.status_code == 422 and "forbidden" in refused.json()["detail"][0]["msg"]

    opened = httpx.post(api, json={**CASE, "wish": {"text": "a pony", "size": 2}}, timeout=60, headers=bearer())
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    assert number.startswith("TY-") and opened.json()["flow_started"]

    gate = driver.wait_for_gate(number, "toy.grant")
    assert gate["assignee_role"] == "customer_service"
    driver.answer_gate(number, "toy.grant", "li.na", {"granted": "true"})
    case = driver.wait_for_status(number, "granted", timeout=120)
    assert case["data"]["wish"] == {"text": "a pony", "size": 2}
    # The status and the closing line are two writes of close_case: under load the page can fall between them.
    end = time.monotonic() + 60
    while [h["kind"] for h in case["history"]][-1] != "closed":
        assert time.monotonic() < end, [h["kind"] for h in case["history"]]
        time.sleep(0.5)
        case = driver.case(number)
    assert any(h["summary"] == "wish 'a pony' of size 2" for h in case["history"])


def test_a_case_whose_flow_did_not_start_at_intake_is_started_by_the_sweep(stack_env: Stack, driver: Driver) -> None:
    from datetime import timedelta

    from aftersales.cases.store import open_case
    from aftersales.runtime import clock
    from aftersales.sla.sweep import sweep
    from models import CaseCreate

    # As intake leaves a case when Prefect does not answer: stored, no flow run (a minute ago).
    request = CaseCreate.model_validate({**CASE, "procedure": "repair"})
    case = open_case(request, now=clock.now() - timedelta(minutes=1))
    assert case.number is not None and case.flow_run_id is None

    report = sweep(resend=False)
    assert case.number in report.started
    assert sweep(resend=False).started == [], "a started case is not started again"
    gate = driver.wait_for_gate(case.number, "repair.triage")
    assert gate["status"] == "waiting" and driver.case(case.number)["flow_run_id"]
