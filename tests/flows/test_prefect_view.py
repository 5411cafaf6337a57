"""An operations manager reads a case in the Prefect UI: found by number, tags that follow it, its artifact, its
events, an automation on them; and no customer data in any of it. On a real Prefect API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col
from typer.testing import CliRunner

from aftersales.cases import prefect_view
from aftersales.cli import app
from aftersales.runtime import prefect as orchestrator
from aftersales.runtime.db import session_scope
from aftersales.runtime.stack import Stack
from aftersales.sla.sweep import sweep
from models import Gate
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.flows.test_repair_flow import TRIAGE

pytestmark = pytest.mark.stack
SHANGHAI = ZoneInfo("Asia/Shanghai")
CUSTOMER = {"customer_name": "欧阳测试", "customer_phone": "13711112222", "customer_email": "ouyang@example.com",
            "customer_address": "上海市浦东新区测试路1号"}
T = TypeVar("T")


def eventually(read: Callable[[], T], ok: Callable[[T], bool], what: str, timeout: float = 60) -> T:
    """Read until `ok` holds (Prefect hears of a step a moment after the database does)."""
    end = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: still {value!r}")
        time.sleep(0.5)


def the_run(number: str) -> tuple[str, str, list[str]]:
    """The case's flow run, found as the UI's search box finds it: by the case number in its name."""
    runs = orchestrator.find_runs_named(number)
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.usefixtures("sweep_schedule_paused")
def test_a_case_is_found_by_number_and_its_tags_artifact_and_events_follow_it_without_customer_data(
        stack_env: Stack, driver: Driver) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    number = new_case(stack_env, **CUSTOMER)
    gate = driver.wait_for_gate(number, "repair.triage")

    run_id, name, _ = the_run(number)
    assert name == f"{number} · repair"
    tags = eventually(lambda: the_run(number)[2], lambda t: "step:triage" in t, "tags of the first step")
    assert {"aftersales", "repair", "procedure:repair", "waits:customer_service"} <= set(tags)
    assert "late" not in tags and not any(t.startswith("escalated:") for t in tags)

    # Put the triage on a known clock (opened Monday 09:00, due 11:00, reminder 10:30), then sweep past it.
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    with session_scope() as session:
        session.execute(update(Gate).where(col(Gate.id) == gate["id"]).values(
            opened_at=opened, deadline_at=opened + timedelta(hours=2), remind_at=opened + timedelta(minutes=90),
            due_at=opened + timedelta(minutes=90)))
    assert sweep(opened + timedelta(minutes=91), resend=False, resume=False).reminded == [gate["id"]]
    assert sweep(opened + timedelta(hours=2, minutes=1), resend=False, resume=False).escalated == [gate["id"]]
    prefect_view.settle()  # this process updates Prefect in the background, as the web app does
    tags = the_run(number)[2]
    assert {"late", "escalated:1", "step:triage", "waits:after_sales_supervisor"} <= set(tags), tags
    assert "waits:customer_service" not in tags, "the tags moved with the step, none piled up"

    # The supervisor answers from the escalation message: the case moves on, the tags follow.
    _, link = driver.link_for_gate("chen.jing", gate["id"])
    assert driver.answer(link, {**TRIAGE, "complexity": "complex"}).status_code == 200
    driver.wait_for_gate(number, "repair.remote_diagnosis")
    tags = eventually(lambda: the_run(number)[2],
                      lambda t: "step:remote_diagnosis" in t and "step:triage" not in t, "tags of the next step")
    assert "late" not in tags and not any(t.startswith("escalated:") for t in tags), tags
    assert the_run(number)[0] == run_id

    # The case artifact, keyed by the case number, reflects the last answer.
    key = prefect_view.artifact_key(number)
    artifact = eventually(lambda: orchestrator.latest_markdown(key) or "",
                          lambda text: "remote_diagnosis (repair.remote_diagnosis)" in text, "the case artifact")
    triage_row = next(line for line in artifact.splitlines() if line.startswith("| triage |"))
    assert "chen.jing" in triage_row and "| link |" in triage_row and "complexity=complex" in triage_row
    assert "after_sales_supervisor (rung 1)" in triage_row

    # The triage's life, read back from the events API in order, with who answered and how.
    def triage_events() -> list[orchestrator.EventRecord]:
        events = orchestrator.read_events(f"aftersales.case.{number}", "aftersales.", started)
        return [e for e in events if any(r.get("aftersales.gate.key") == "triage" for r in e.related)]

    life = eventually(triage_events, lambda found: len(found) >= 4, "events of the triage")
    assert [e.event for e in life] == ["aftersales.gate.opened", "aftersales.gate.reminded",
                                       "aftersales.gate.escalated", "aftersales.gate.answered"]
    escalated, answered = life[2], life[3]
    assert escalated.payload["rung"] == 1 and escalated.payload["to_role"] == "after_sales_supervisor"
    assert escalated.payload["missed_deadline"] is True
    assert answered.payload["by"] == "chen.jing" and answered.payload["channel"] == "link"
    assert all(e.resource["aftersales.procedure"] == "repair" for e in life)
    assert all(any(r["prefect.resource.id"] == f"prefect.flow-run.{run_id}" for r in e.related) for e in life)

    # Its task runs say what they did to which step.
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with orchestrator.client_on(None) as client:
        names = {t.name for t in client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])))}
    assert {"open triage", "notify triage", "open remote_diagnosis", "history flow_started"} <= names, names

    # Nothing Prefect holds of the case names the customer or how to reach them.
    everything = [name, *the_run(number)[2], orchestrator.latest_markdown(key) or "",
                  *(json.dumps([e.resource, e.related, e.payload], ensure_ascii=False)
                    for e in orchestrator.read_events(f"aftersales.case.{number}", "aftersales.", started))]
    leaked = [value for value in CUSTOMER.values() if any(value in text for text in everything)]
    assert not leaked, leaked

    # The README's example automation: created by a command, once however often it runs.
    for _ in range(2):
        result = CliRunner().invoke(app, ["automations", "example"])
        assert result.exit_code == 0, result.output
    with orchestrator.client_on(None) as client:
        found = client.read_automations_by_name(prefect_view.GM_COMPLAINT_AUTOMATION)
    assert len(found) == 1
    trigger = found[0].trigger
    assert trigger.expect == {"aftersales.gate.escalated"}
    assert trigger.match.root["aftersales.procedure"] == "complaint"
    assert trigger.match_related.root["aftersales.holder-role"] == "general_manager"
