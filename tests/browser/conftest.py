"""Browser-test fixtures: Debian's Chromium driven by Playwright, and the flow driver bound to the stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from aftersales.runtime.stack import Stack
from tests.conftest import stack_db
from tests.flows.driver import Driver

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def driver(stack_env: Stack) -> Driver:
    """Reads the stack's mail sink and answers links over HTTP."""
    return Driver(stack_db(stack_env), stack_env.config.web_url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session (never downloaded: the system's /usr/bin/chromium)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (run scripts/ensure-chromium.sh)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page per test; uncaught page errors fail the test."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.set_default_navigation_timeout(60_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


def sign_in(page: Page, web_url: str, staff_id: str, target: str = "/ops") -> None:
    """Give the person a password (in the stack's database) and sign in through the sign-in page, as they would."""
    from aftersales.access.passwords import people_with_password, set_password
    from tests.signin import PASSWORD

    if staff_id not in people_with_password():
        set_password(staff_id, PASSWORD)
    page.goto(f"{web_url}{target}")
    page.wait_for_url("**/signin?next=*")
    page.locator("#staff_id").fill(staff_id)
    page.locator("#password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
