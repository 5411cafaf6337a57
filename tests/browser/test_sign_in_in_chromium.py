"""Signing in in a real browser: refused anonymously, operations see /ops and a case, others get a clear 403."""

from __future__ import annotations

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


def test_operations_sign_in_to_see_ops_and_a_case_and_anonymous_visitors_are_refused(
    stack_env: Stack, driver: Driver, page: Page
) -> None:
    web_url = stack_env.config.web_url
    number = new_case(stack_env)
    driver.wait_for_gate(number, "repair.triage")

    for path in ("/ops", f"/cases/{number}", f"/cases/{number}/forms/FORM-MA-076", "/inbox"):
        page.goto(f"{web_url}{path}")
        page.wait_for_url("**/signin?next=*")
        expect(page.get_by_role("heading", level=1)).to_have_text("员工登录")
        expect(page.locator("main")).not_to_contain_text(number)
    api = page.request.get(f"{web_url}/api/cases/{number}")
    assert api.status == 401 and "测试客户" not in api.text()

    sign_in(page, web_url, "chen.jing")  # 售后服务管理师 / 督查员: operations
    assert page.url == f"{web_url}/ops"
    expect(page.locator("nav")).to_contain_text("陈静")
    page.get_by_role("link", name=number).first.click()
    page.wait_for_url(f"**/cases/{number}")
    expect(page.locator("main")).to_contain_text(number)
    assert page.request.get(f"{web_url}/api/cases/{number}").json()["number"] == number  # the session reads the API

    page.get_by_role("link", name="退出 Sign out").click()
    page.wait_for_url("**/signin")
    page.goto(f"{web_url}/ops")
    page.wait_for_url("**/signin?next=*")

    sign_in(page, web_url, "zhang.wei", f"/cases/{number}")  # an engineer who holds no step of this case yet
    expect(page.get_by_role("heading", level=1)).to_have_text("无权查看")
    expect(page.locator("main")).to_contain_text("zhang.wei")
    expect(page.locator("main")).not_to_contain_text("测试客户")
    page.goto(f"{web_url}/ops")
    expect(page.get_by_role("heading", level=1)).to_have_text("无权查看")
