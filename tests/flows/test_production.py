"""Production topology on one machine: two web instances and three workers on PostgreSQL, 60 cases to the end."""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text

from aftersales.config.settings import get_settings
from aftersales.runtime import prefect as orchestrator
from aftersales.runtime.db import engine_for
from aftersales.runtime.leftovers import STACK_ID
from aftersales.runtime.stack import Stack, StackConfig, free_port
from tests.flows.driver import Driver
from tests.signin import HOTLINE_KEY, bearer

# Heaviest test there is (every step of every case is a flow-run process on 2 cores): `make test-production` runs the
# 60 cases of issue 13 (~30 min on 2 cores); `make test` leaves it out, its three workers starved the suite's other
# stack (seen in a full run: other tests' flows never started within 90 s). AFTERSALES_TEST_PRODUCTION_CASES=8 tries it.
pytestmark = [pytest.mark.stack, pytest.mark.production]

CASES = int(os.environ.get("AFTERSALES_TEST_PRODUCTION_CASES", "60"))
# The shortest path to a closed case: an unfounded complaint, three steps (F1:212-214, 004:485, spec §5.6).
ANSWERS = {
    "complaint.first_response": {"response": "已致电客户,正在调查", "needs_joint_inspection": "false"},
    "complaint.acceptance": {"comment": "受理"},
    "complaint.verification": {"substantiated": "false", "findings": "使用不当,非质量问题"},
}
# Tasks with a side effect: each must complete once per flow run, its replays after a resume only cached.
SIDE_EFFECTS = ("notify", "open ", "history ", "update case", "close", "attach run")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The production topology: project data and Prefect on PostgreSQL, secrets from the environment, production
    mode (SQLite and per-machine keys refused, schema upgraded before start), 2 web instances, 3 workers."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("production"), prefect_port=free_port(), web_port=free_port(),
        smtp_port=free_port(), more_web_ports=(free_port(),), workers=3, postgres_data=True,
        # 3 runs at once per worker: 60 flow-run processes starting together on 2 cores took minutes each to
        # start, and the ones still "Pending" after recovery.pending_minutes were taken for dead and run again.
        worker_limit=3,
        extra_env={"AFTERSALES_PRODUCTION": "true", "AFTERSALES_SECRET_KEY": secrets.token_urlsafe(32),
                   "AFTERSALES_SESSION_SECRET": secrets.token_urlsafe(32),
                   "AFTERSALES_INTAKE_API_KEYS": f"hotline:{HOTLINE_KEY}"})
    stack = Stack(config, progress=lambda message: None)
    try:
        stack.start()
        with pytest.MonkeyPatch.context() as monkeypatch:  # this process configured like the stack's parts
            for key, value in stack.env().items():
                if key.startswith(("AFTERSALES_", "PREFECT_")) and key != STACK_ID:
                    monkeypatch.setenv(key, value)
            get_settings.cache_clear()
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings(updates={PREFECT_API_URL: config.prefect_api}):
                yield stack
        get_settings.cache_clear()
    finally:
        stack.stop()


def open_complaint(url: str, index: int) -> str:
    body = {"procedure": "complaint", "customer_name": f"客户{index}", "customer_phone": "13900000000",
            "customer_email": f"customer{index}@example.com", "product_model": "PT-3000",
            "serial_number": f"SN-P-{index}", "purchase_date": "2026-06-01", "problem_description": "运行有异响",
            "channel": "hotline", "language": "zh",
            "complaint": {"category": "product_quality", "customer_demand": "重新维修", "quantity": 1,
                          "defective_quantity": 1}}
    response = httpx.post(f"{url}/api/cases", json=body, headers=bearer(), timeout=120)
    assert response.status_code == 201, response.text
    assert response.json()["flow_started"], response.text
    return str(response.json()["number"])


@pytest.mark.timeout(3600)
def test_sixty_cases_through_two_web_instances_and_three_workers_all_close_once(production: Stack) -> None:
    config = production.config
    instances = [config.web_url, *(f"http://127.0.0.1:{port}" for port in config.more_web_ports)]
    url = production.data_url
    assert url.startswith("postgresql+psycopg://") and get_settings().production
    db = engine_for(url)
    driver = Driver(url, config.web_url)
    started = time.monotonic()

    # Opened through both instances, alternating, as a proxy would spread them; in parallel.
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda i: open_complaint(instances[i % 2], i), range(CASES)))
    assert len(set(numbers)) == CASES

    # Driven from the links in the messages, each gate answered once, through the instance its id picks.
    answered: dict[int, str] = {}
    seen, end = 0, time.monotonic() + 3000
    with ThreadPoolExecutor(8) as pool:
        while True:
            with db.connect() as conn:
                closed = conn.execute(text("SELECT count(*) FROM cases WHERE number = ANY(:n) AND status = "
                                           "'unfounded'"), {"n": numbers}).scalar_one()
            if closed == CASES:
                break
            assert time.monotonic() < end, f"{closed} of {CASES} cases closed after 50 min"
            mails = driver.mails(after=seen)
            seen = mails[-1].id if mails else seen
            links = {int(link.split("/gates/")[1].split("?")[0]): link for mail in mails for link in mail.links()}
            new = {gate: link for gate, link in links.items() if gate not in answered}
            if new:
                with db.connect() as conn:
                    kinds = dict(conn.execute(text("SELECT id, kind FROM gates WHERE id = ANY(:ids)"),
                                              {"ids": list(new)}).all())
                answered.update(kinds)
                jobs = [(instances[gate % 2], link, ANSWERS[kinds[gate]]) for gate, link in new.items()]
                for response in pool.map(lambda job: answer(driver, *job), jobs):
                    assert response.status_code == 200, response.text[:1000]
            time.sleep(1)
    elapsed = time.monotonic() - started
    print(f"\n{CASES} cases, {len(answered)} steps answered, all closed in {elapsed:.0f} s")

    assert Counter(answered.values()) == {kind: CASES for kind in ANSWERS}
    with db.connect() as conn:
        # Every step asked once and answered once.
        counted = conn.execute(text("SELECT g.kind, g.status, count(*) FROM gates g JOIN cases c ON c.id = g.case_id "
                                    "WHERE c.number = ANY(:n) GROUP BY g.kind, g.status"), {"n": numbers})
        gates = [tuple(row) for row in counted]
        runs = conn.execute(text("SELECT flow_run_id FROM cases WHERE number = ANY(:n)"), {"n": numbers}).scalars()
        run_ids = [UUID(str(run)) for run in runs]
    assert sorted(gates) == sorted((kind, "answered", CASES) for kind in ANSWERS)
    assert len(set(run_ids)) == CASES

    # No message twice: each (recipient, subject, text) of these cases reached the sink once.
    mails = [(m.rcpt_to, m.subject, m.text) for m in driver.mails() if any(n in m.subject for n in numbers)]
    twice = [key[:2] for key, count in Counter(mails).items() if count > 1]
    assert not twice, f"sent twice: {twice}"
    customers = Counter(m[0] for m in mails if m[0].startswith("customer"))
    assert len(customers) == CASES  # received, first response, findings: each customer told, none twice
    assert set(customers.values()) == {3}, customers

    # No step ran twice: in every flow run each side-effect task completed once; its replays after each resume
    # found the step done (in the database, or its cached result in Prefect), so nothing was opened, sent or
    # recorded again.
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    # Read run by run and keyed by task run id: pages by offset over all runs can list a task run twice while
    # the server still records the last runs' task events (rows inserted between two pages shift the offsets).
    by_id: dict[UUID, Any] = {}
    with orchestrator.client_on(None) as client:
        for run in run_ids:
            for task in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run])),
                                              limit=200):
                by_id[task.id] = task
    tasks = list(by_id.values())
    done = Counter((t.flow_run_id, t.name) for t in tasks
                   if t.state is not None and t.state.name == "Completed" and t.name.startswith(SIDE_EFFECTS))
    assert len({run for run, _ in done}) == CASES
    again = [key for key, count in done.items() if count > 1]
    assert not again, f"ran twice: {again[:10]}"
    # Every run was resumed and ran again from the top (once per step, or once for steps answered together).
    with orchestrator.client_on(None) as client:
        started = [sum(state.is_running() for state in client.read_flow_run_states(run)) for run in run_ids]
    assert min(started) >= 2, started

    # Three workers took the runs: each submitted some.
    for name in ("worker", "worker-2", "worker-3"):
        assert f"'aftersales-{name}' submitting flow run" in (production.logs / f"{name}.log").read_text(), name

    # The recovery automations of the start sequence (README "Production"), created once however often it runs.
    for _ in range(2):
        assert "recovery automations on the Prefect server" in production.run_cli(["automations", "recovery"])


def answer(driver: Driver, instance: str, link: str, fields: dict[str, str]) -> httpx.Response:
    """Answer a link through one web instance (the link names the public URL, which a proxy would spread)."""
    return driver.answer(link.replace(driver.web_url, instance, 1), fields)
