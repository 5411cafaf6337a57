"""The human gate on a real stack: refusals, double submits, the Prefect UI, crashes and escalation."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlparse
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from aftersales.gates.links import issue_link
from aftersales.runtime.db import session_scope
from aftersales.runtime.stack import Stack
from aftersales.sla.sweep import sweep
from models import Gate
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.flows.test_repair_flow import TRIAGE, assert_no_message_twice, open_the_visit_on_day_5

pytestmark = pytest.mark.stack
SHANGHAI = ZoneInfo("Asia/Shanghai")


SUBMITS = 100  # issue 9: one gate, 100 concurrent submits -> one answer, one resume


def _post(driver: Driver, link: str, fields: dict[str, str]) -> httpx.Response:
    gate_id = urlparse(link).path.rsplit("/", 1)[-1]
    token = parse_qs(urlparse(link).query)["t"][0]
    return httpx.post(f"{driver.web_url}/gates/{gate_id}", data={"t": token, **fields}, timeout=60)


def wait_until_suspended(flow_run_id: str, timeout: float = 60) -> None:
    """Wait until the case's flow run is suspended (PAUSED) on the Prefect server."""
    from prefect import get_client

    end = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < end:
            state = client.read_flow_run(UUID(flow_run_id)).state
            if state is not None and state.is_paused():
                return
            time.sleep(0.3)
    raise AssertionError(f"flow run {flow_run_id} never suspended")


def test_forged_expired_foreign_and_reused_links_are_refused_and_change_nothing(stack_env: Stack,
                                                                                driver: Driver) -> None:
    number = new_case(stack_env)
    gate = driver.wait_for_gate(number, "repair.triage")
    _, link = driver.link_for_gate("li.na", gate["id"])
    token = parse_qs(urlparse(link).query)["t"][0]
    web = driver.web_url

    forged = httpx.get(f"{web}/gates/{gate['id']}?t={token[:-4]}abcd", timeout=30)
    assert forged.status_code == 403 and "<form" not in forged.text
    other_gate = httpx.get(f"{web}/gates/{gate['id'] + 999}?t={token}", timeout=30)
    assert other_gate.status_code == 403
    expired_link = issue_link(gate["id"], "li.na", now=datetime.now(SHANGHAI) - timedelta(days=60))
    expired = httpx.get(expired_link, timeout=30)
    assert expired.status_code == 410 and "<form" not in expired.text
    assert _post(driver, expired_link, TRIAGE).status_code == 410
    assert _post(driver, f"{web}/gates/{gate['id']}?t=garbage", TRIAGE).status_code == 403
    assert driver.case(number)["current_gate"]["status"] == "waiting", "a refused link changed the gate"

    assert _post(driver, link, TRIAGE).status_code == 200
    reused = httpx.get(link, timeout=30)
    assert reused.status_code == 409 and "<form" not in reused.text
    assert _post(driver, link, TRIAGE).status_code == 409
    driver.wait_for_gate(number, "repair.remote_diagnosis")


def test_a_hundred_concurrent_submits_record_one_answer_and_resume_the_flow_once(stack_env: Stack,
                                                                                  driver: Driver) -> None:
    number = new_case(stack_env)
    gate = driver.wait_for_gate(number, "repair.triage")
    _, link = driver.link_for_gate("li.na", gate["id"])
    results: list[int] = []
    start = threading.Barrier(SUBMITS)

    def submit() -> None:
        start.wait()  # all at once, as a crowd of double clicks and retries would
        results.append(_post(driver, link, TRIAGE).status_code)

    began = time.monotonic()
    threads = [threading.Thread(target=submit) for _ in range(SUBMITS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{SUBMITS} concurrent submits answered in {time.monotonic() - began:.1f} s")
    assert sorted(results) == [200] + [409] * (SUBMITS - 1), Counter(results)
    driver.wait_for_gate(number, "repair.remote_diagnosis")
    time.sleep(3)  # a second resume would have re-opened work by now
    view = driver.case(number)
    assert [h["kind"] for h in view["history"]].count("gate_answered") == 1
    assert [g["kind"] for g in view["gates"]] == ["repair.triage", "repair.remote_diagnosis"]


def test_a_gate_answered_in_the_prefect_ui_moves_the_case_on(stack_env: Stack, driver: Driver) -> None:
    from prefect.flow_runs import resume_flow_run

    number = new_case(stack_env)
    gate = driver.wait_for_gate(number, "repair.triage")
    run_id = driver.case(number)["flow_run_id"]
    deadline = time.monotonic() + 30
    while True:  # the Prefect UI's resume form posts exactly this
        try:
            resume_flow_run(UUID(run_id), _sync=True, run_input={  # sync even beside Playwright's loop
                "urgent": True, "complexity": "general", "man_made_damage": False, "warranty": "auto",
                "remote_possible": False, "comment": "answered in the UI"})
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    driver.wait_for_gate(number, "repair.plan")
    answered = next(g for g in driver.case(number)["gates"] if g["id"] == gate["id"])
    assert answered["answered_via"] == "prefect-ui"
    assert answered["answer"]["comment"] == "answered in the UI"
    assert driver.case(number)["urgent"] is True


def test_a_worker_killed_while_a_case_waits_loses_nothing_and_sends_nothing_twice(stack_env: Stack,
                                                                                 driver: Driver) -> None:
    number = new_case(stack_env)
    driver.answer_gate(number, "repair.triage", "li.na", TRIAGE)
    gate = driver.wait_for_gate(number, "repair.remote_diagnosis")
    wait_until_suspended(driver.case(number)["flow_run_id"])  # waiting: no process holds the case now
    stack_env.stop_worker(kill=True)
    try:
        _, link = driver.link_for_gate("zhang.wei", gate["id"])
        assert driver.answer(link, {"solved": "false", "diagnosis": "需上门"}).status_code == 200
        time.sleep(5)
        assert driver.case(number)["current_gate"] is None, "nothing runs the case while no worker is up"
    finally:
        stack_env.start_worker()
    driver.answer_gate(number, "repair.plan", "zhang.wei", {"mode": "send_in", "plan": "客户寄回维修", "fee": "0"})
    driver.answer_gate(number, "repair.execution", "zhang.wei", {"done": "true", "work_done": "已修复"})
    driver.answer_gate(number, "repair.acceptance", "customer@example.com",
                       {"accepted": "true", "signature_name": "测试客户"})
    driver.answer_gate(number, "repair.survey", "customer@example.com", {"score": "5"})
    open_the_visit_on_day_5(driver, number)
    visit = {"contacted": "true", "visited_on": date.today().isoformat()}
    driver.answer_gate(number, "repair.follow_up", "li.na", visit)
    driver.wait_for_status(number, "closed")
    assert_no_message_twice(driver, number)


@pytest.mark.usefixtures("sweep_schedule_paused")
def test_a_late_gate_is_reminded_once_then_climbs_its_ladder(stack_env: Stack, driver: Driver) -> None:
    number = new_case(stack_env)
    gate = driver.wait_for_gate(number, "repair.triage")
    # Put the gate on a known clock: opened Monday 09:00 in Shanghai, due 11:00, reminder 10:30.
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    with session_scope() as session:
        session.execute(update(Gate).where(col(Gate.id) == gate["id"]).values(
            opened_at=opened, deadline_at=opened + timedelta(hours=2), remind_at=opened + timedelta(minutes=90),
            due_at=opened + timedelta(minutes=90)))  # as open_gate stores it: the sweep reads gates by due_at

    assert sweep(opened + timedelta(minutes=60)).reminded == []
    assert sweep(opened + timedelta(minutes=91)).reminded == [gate["id"]]
    assert sweep(opened + timedelta(minutes=92)).reminded == [], "a reminder goes out once per rung"
    reminders = [m for m in driver.mails("li.na") if number in m.subject and "提醒" in m.subject]
    assert len(reminders) == 1

    first = sweep(opened + timedelta(hours=2, minutes=1))
    assert first.escalated == [gate["id"]]
    assert sweep(opened + timedelta(hours=2, minutes=2)).escalated == [], "an escalation happens once"
    view = driver.case(number)
    assert view["current_gate"]["assignee_role"] == "after_sales_supervisor"
    # Rung 1 has 4 working hours: 11:01 + 4 h = 15:01 the same Monday.
    assert datetime.fromisoformat(view["current_gate"]["deadline_at"]) == opened + timedelta(hours=6, minutes=1)
    second = sweep(opened + timedelta(hours=6, minutes=2))
    assert second.escalated == [gate["id"]]
    view = driver.case(number)
    assert view["current_gate"]["assignee_role"] == "after_sales_manager"
    assert [(e["rung"], e["to_role"]) for e in view["escalations"]] == [(1, "after_sales_supervisor"),
                                                                        (2, "after_sales_manager")]
    assert "陈静" in view["escalations"][0]["told"]
    escalated = [m for m in driver.mails("wang.fang") if number in m.subject]
    assert len(escalated) == 1 and "已升级" in escalated[0].subject
    # The manager acts on the case from the escalation message.
    _, link = driver.link_for_gate("wang.fang", gate["id"])
    assert driver.answer(link, TRIAGE).status_code == 200
    driver.wait_for_gate(number, "repair.remote_diagnosis")
    answered = next(g for g in driver.case(number)["gates"] if g["id"] == gate["id"])
    assert "王芳" in answered["answered_by"]
