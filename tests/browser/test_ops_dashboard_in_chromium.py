"""Operations staff in a real browser: filter the late steps, open a case, hand its step to another person,
who answers from the fresh link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update
from sqlmodel import col

from aftersales.runtime.db import session_scope
from aftersales.runtime.stack import Stack
from models import Gate
from tests.browser.conftest import CHROMIUM, sign_in
from tests.flows.conftest import new_case
from tests.flows.driver import Driver

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (run scripts/ensure-chromium.sh; never `playwright install` here)",
                allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_operations_filter_late_steps_open_a_case_and_reassign_its_step(stack_env: Stack, driver: Driver, page: Page,
                                                                        tmp_path: Path) -> None:
    web_url = stack_env.config.web_url
    number = new_case(stack_env)
    waiting = new_case(stack_env)  # stays in time: the filter must hide it
    gate = driver.wait_for_gate(number, "repair.triage")
    driver.wait_for_gate(waiting, "repair.triage")
    with session_scope() as session:  # the step is late: its deadline passed an hour ago
        session.execute(update(Gate).where(col(Gate.id) == gate["id"])
                        .values(deadline_at=datetime.now(UTC) - timedelta(hours=1)))

    sign_in(page, web_url, "chen.jing")  # the supervisor (policy.yaml access.operations), through the sign-in page
    page.wait_for_url("**/ops")
    expect(page.locator(f"tr[data-gate='{gate['id']}']")).to_be_visible()
    page.locator("input[name=late]").check()
    with page.expect_navigation():
        page.get_by_role("button", name="筛选 Filter").click()
    assert parse_qs(urlsplit(page.url).query).get("late") == ["1"]  # the filter is in the URL
    row = page.locator(f"tr[data-gate='{gate['id']}']")
    expect(row).to_have_class("late")
    expect(row).to_contain_text("已超时 overdue")
    expect(page.locator("table.waiting")).not_to_contain_text(waiting)
    page.screenshot(path=str(tmp_path / "ops-late.png"), full_page=True)

    row.get_by_role("link", name=number).click()
    page.wait_for_url(f"**/cases/{number}")
    expect(page.locator("h1")).to_contain_text(number)
    expect(page.locator("#flow-run")).to_have_attribute("href", f"{stack_env.config.prefect_api.removesuffix('/api')}"
                                                                f"/runs/flow-run/{driver.case(number)['flow_run_id']}")
    page.locator("a.act").first.click()
    page.wait_for_url(f"**/cases/{number}/gates/{gate['id']}/act")

    page.locator("#reassign-person").select_option("zhang.wei")
    page.locator("#reassign-reason").fill("李娜今天休假 on leave today")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="转交 Reassign").click()
    assert navigation.value is not None and navigation.value.status == 200
    expect(page.locator("#done")).to_contain_text("张伟 (zhang.wei)")
    page.screenshot(path=str(tmp_path / "reassigned.png"), full_page=True)

    case = driver.case(number)
    now_gate = next(g for g in case["gates"] if g["id"] == gate["id"])
    assert now_gate["assignee_person"] == "zhang.wei" and now_gate["status"] == "waiting", now_gate
    assert any(line["kind"] == "reassigned" and "李娜今天休假" in line["summary"] for line in case["history"])

    # The new holder's fresh link opens the step's form.
    _, link = driver.link_for_gate("zhang.wei@example.com", gate["id"])
    response = page.goto(link)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("报修分诊与保修判定")
