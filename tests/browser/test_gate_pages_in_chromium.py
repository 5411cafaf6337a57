"""People answering gates in a real browser: from the demo inbox to the gate page, its errors and its refusal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aftersales.runtime.stack import Stack
from tests.browser.conftest import CHROMIUM, sign_in
from tests.flows.conftest import new_case
from tests.flows.driver import Driver

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (run scripts/ensure-chromium.sh; never `playwright install` here)",
                allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.stack]

TRIAGE = {"urgent": "false", "complexity": "general", "man_made_damage": "false", "warranty": "auto",
          "remote_possible": "true"}


def screenshot(page: Page, path: Path) -> None:
    """A full-page PNG that really holds an image."""
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000, f"{path} is (almost) empty"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def submit(page: Page) -> int:
    """Press the form's submit button like a person and return the HTTP status of the page it leads to."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="提交").click()
    response = navigation.value
    assert response is not None
    return response.status


def open_inbox_message(page: Page, web_url: str, to: str, *subject_parts: str, timeout: float = 60) -> None:
    """Reload the inbox until a message to `to` whose subject holds every part is listed, then open it."""
    page.goto(f"{web_url}/inbox")
    end = time.monotonic() + timeout
    while True:
        rows = page.locator("table.inbox tbody tr").filter(has_text=to)
        for part in subject_parts:
            rows = rows.filter(has_text=part)
        if rows.count():
            rows.first.get_by_role("link").click()
            return
        if time.monotonic() > end:
            listed = page.locator("table.inbox tbody tr").all_inner_texts()[:10]
            raise AssertionError(f"no message to {to} with {subject_parts} in the inbox within {timeout}s: {listed}")
        page.wait_for_timeout(1000)
        page.reload()


def test_customer_service_answers_triage_from_the_inbox_in_chromium(stack_env: Stack, driver: Driver, page: Page,
                                                                    tmp_path: Path) -> None:
    web_url = stack_env.config.web_url
    number = new_case(stack_env)

    sign_in(page, web_url, "li.na", "/inbox")  # the demo inbox is for signed-in staff
    open_inbox_message(page, web_url, "li.na@example.com", number, "待您处理")
    expect(page.locator("h1")).to_contain_text(number)
    gate_link = page.locator(".mailbody a[href*='/gates/']").first
    expect(gate_link).to_be_visible()
    gate_link.click()

    page.wait_for_url("**/gates/*")
    expect(page.get_by_role("heading", level=1)).to_have_text("报修分诊与保修判定")
    expect(page.locator("table.summary")).to_contain_text(number)
    expect(page.get_by_text(number).first).to_be_visible()
    screenshot(page, tmp_path / "triage-gate.png")

    page.locator("#urgent-false").check()
    page.locator("#complexity").select_option("general")
    expect(page.locator("#warranty")).to_have_value("auto")
    page.locator("#remote_possible").check()
    expect(page.locator("#urgent-false")).to_be_checked()
    expect(page.locator("#remote_possible")).to_be_checked()
    assert submit(page) == 200

    expect(page.locator(".banner.ok")).to_contain_text("您的答复已记录")
    expect(page.locator("main")).to_contain_text(number)
    expect(page.locator("form.gate")).to_have_count(0)
    screenshot(page, tmp_path / "triage-done.png")

    triage = next(g for g in driver.case(number)["gates"] if g["kind"] == "repair.triage")
    assert triage["status"] != "waiting" and triage["answered_via"] == "link", triage
    assert triage["answer"]["urgent"] is False and triage["answer"]["remote_possible"] is True, triage["answer"]
    assert triage["answer"]["complexity"] == "general" and triage["answer"]["warranty"] == "auto"
    driver.wait_for_gate(number, "repair.remote_diagnosis")


def test_engineer_sees_a_clear_error_and_nothing_changes_on_an_invalid_submit(stack_env: Stack, driver: Driver,
                                                                              page: Page, tmp_path: Path) -> None:
    number = new_case(stack_env)
    driver.answer_gate(number, "repair.triage", "li.na", TRIAGE)
    gate = driver.wait_for_gate(number, "repair.remote_diagnosis")
    _, link = driver.link_for_gate("zhang.wei@example.com", gate["id"])

    response = page.goto(link)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("远程诊断")
    expect(page.locator("#diagnosis")).to_have_value("")
    expect(page.locator("input[name=solved]:checked")).to_have_count(0)

    # Submitting an empty form: the page comes back 422 with the errors beside the fields, nothing recorded.
    assert submit(page) == 422
    expect(page.locator(".banner.error")).to_be_visible()
    expect(page.locator(".banner.error")).to_contain_text("提交未被接受")
    expect(page.locator("#diagnosis-error")).to_have_text("此项为必填项。")
    expect(page.locator("#solved-error")).to_have_text("此项为必填项。")
    expect(page.locator(".field.invalid")).to_have_count(2)
    expect(page.locator("form.gate")).to_have_count(1)
    screenshot(page, tmp_path / "remote-diagnosis-invalid.png")
    after_invalid = next(g for g in driver.case(number)["gates"] if g["id"] == gate["id"])
    assert after_invalid["status"] == "waiting" and after_invalid["answered_by"] is None, after_invalid
    assert driver.case(number)["current_gate"]["id"] == gate["id"]

    # The same page, filled properly, is accepted.
    page.locator("#solved").check()
    page.locator("#diagnosis").fill("电源适配器接触不良,已指导客户更换插座")
    assert submit(page) == 200
    expect(page.locator(".banner.ok")).to_contain_text("您的答复已记录")
    screenshot(page, tmp_path / "remote-diagnosis-done.png")
    answered = next(g for g in driver.case(number)["gates"] if g["id"] == gate["id"])
    assert answered["status"] != "waiting" and answered["answered_via"] == "link", answered
    assert answered["answer"] == {"solved": True, "diagnosis": "电源适配器接触不良,已指导客户更换插座", "comment": ""}

    # Opening the same link again is refused and shows no form.
    response = page.goto(link)
    assert response is not None and response.status == 409
    expect(page.locator(".banner.error h1")).to_have_text("链接已使用")
    expect(page.locator("main")).to_contain_text("每个链接只能使用一次")
    expect(page.locator("form")).to_have_count(0)
    expect(page.locator("textarea, input[type=radio], button[type=submit]")).to_have_count(0)
    screenshot(page, tmp_path / "remote-diagnosis-refused.png")
