"""Dead flow runs of open cases: run again a bounded number of times, then shown to operations, who retry.

Prefect is replaced by a record of what recovery asked of it (the real server is in tests/flows/test_recovery.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aftersales.cases.store import record_event
from aftersales.cli import app
from aftersales.config.settings import Settings
from aftersales.runtime.db import session_scope
from aftersales.runtime.prefect import RunStatus
from aftersales.sla import recovery
from aftersales.web.app import create_app
from models import Case
from tests.signin import sign_in

NUMBER = "RP-20261130-00001"
RUN = "5f0c7a52-0000-4000-8000-000000000001"


@dataclass
class FakePrefect:
    """The run as the Prefect API would show it, and every reschedule asked for."""

    state: str = "CRASHED"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    state_no: int = 0
    rescheduled: list[str] = field(default_factory=list)

    def runs_in_states(self, run_ids: list[str], states: list[str],
                       flow_names: list[str] | None = None) -> list[RunStatus]:
        if RUN not in run_ids or self.state not in states:
            return []
        return [RunStatus(RUN, self.state, f"state-{self.state_no}", self.since, "Flow run infrastructure exited")]

    def crash_again(self) -> None:
        self.state, self.state_no = "CRASHED", self.state_no + 1

    def reschedule_run(self, run_id: str) -> None:
        self.rescheduled.append(run_id)
        self.state, self.state_no = "SCHEDULED", self.state_no + 1

    def flow_run_state(self, run_id: str) -> tuple[str, None]:
        return self.state, None


@pytest.fixture
def prefect(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePrefect]:
    fake = FakePrefect()
    for name in ("runs_in_states", "reschedule_run", "flow_run_state"):
        monkeypatch.setattr(recovery.orchestrator, name, getattr(fake, name))
    monkeypatch.setattr(recovery.orchestrator, "last_heartbeats", lambda ids, since: {})
    yield fake


def make_case() -> int:
    with session_scope() as session:
        case = Case(number=NUMBER, procedure="repair", customer_name="王小明", customer_phone="13912345678",
                    product_model="XQB80-A", purchase_date=date(2025, 3, 1), problem_description="洗衣机不排水",
                    flow_run_id=RUN)
        session.add(case)
        session.flush()
        assert case.id is not None
        return case.id


def case() -> Case:
    with session_scope() as session:
        found = session.get(Case, 1)
        assert found is not None
        return found


def test_a_crashed_run_is_run_again_once_per_crash(prefect: FakePrefect) -> None:
    make_case()
    assert recovery.recover_runs().rescheduled == [NUMBER]
    assert recovery.recover_runs().rescheduled == [], "a rescheduled run is not dead"
    assert prefect.rescheduled == [RUN]


def test_a_run_pending_for_long_is_run_again_but_not_one_just_submitted(prefect: FakePrefect) -> None:
    make_case()
    prefect.state = "PENDING"
    assert recovery.recover_runs().rescheduled == []
    prefect.since = datetime.now(UTC) - timedelta(minutes=4)
    assert recovery.recover_runs().rescheduled == [NUMBER]


def test_after_three_tries_without_progress_the_case_needs_attention(prefect: FakePrefect) -> None:
    case_id = make_case()
    for _ in range(3):
        assert recovery.recover_runs().rescheduled == [NUMBER]
        prefect.crash_again()
    report = recovery.recover_runs()
    assert (report.rescheduled, report.attention) == ([], [NUMBER])
    assert case().needs_attention_at is not None and RUN in (case().attention_error or "")
    assert recovery.recover_runs().attention == [], "handed over once; the sweep leaves it alone"
    assert len(prefect.rescheduled) == 3
    # A step of the flow between crashes is progress: its tries start again.
    record_event(case_id, "gate:plan:opened", "gate_opened", "waiting on the engineer")
    assert recovery.tries_since_progress(case_id) == 0


def test_operations_see_the_case_and_retry_it(prefect: FakePrefect) -> None:
    make_case()
    for _ in range(4):
        recovery.recover_runs()
        prefect.crash_again()
    with TestClient(create_app()) as client:
        sign_in(client)
        ops = client.get("/ops").text
        assert "needs attention" in ops and NUMBER in ops and RUN in ops and "infrastructure exited" in ops
        page = client.get(f"/cases/{NUMBER}").text
        assert f'action="/cases/{NUMBER}/retry"' in page
    shown = CliRunner().invoke(app, ["show", NUMBER])
    assert "NEEDS ATTENTION" in shown.stdout and f"aftersales retry {NUMBER}" in shown.stdout

    retried = CliRunner().invoke(app, ["retry", NUMBER])
    assert retried.exit_code == 0, retried.output
    assert case().needs_attention_at is None and prefect.rescheduled[-1] == RUN
    with TestClient(create_app()) as client:
        sign_in(client)
        assert "needs attention" not in client.get("/ops").text
        prefect.crash_again()
        recovery.recover_runs()  # the retried case gets the policy's tries again
        answer = client.post(f"/cases/{NUMBER}/retry")
        assert answer.status_code == 200 and "run again" in answer.text
    history = CliRunner().invoke(app, ["show", NUMBER]).stdout
    assert "retried by" in history and "(aftersales retry)" in history and "陈静 (chen.jing, case page)" in history
