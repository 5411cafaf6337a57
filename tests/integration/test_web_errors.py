"""The real app when the database, an outside system or the configuration fails: clear 503/500, never a traceback."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aftersales.config.settings import PROJECT_ROOT, Settings, get_settings
from aftersales.errors import ConfigurationError, IntegrationError
from aftersales.gates import tokens
from aftersales.web import api, pages
from aftersales.web.app import create_app
from tests.integration.conftest import free_port
from tests.signin import session_cookie, sign_in

TRACEBACK = re.compile(r"Traceback|File \"|sqlalche\.me|psycopg|OperationalError")


@pytest.fixture
def unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app with its database pointed at a PostgreSQL port nothing listens on."""
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"postgresql://u:secret@127.0.0.1:{free_port()}/x")
    monkeypatch.setenv("AFTERSALES_TRUSTED_HOSTS", "testserver")
    get_settings.cache_clear()
    # Signed in by a session cookie: signing in with a password needs the database that is down here.
    with TestClient(create_app(), cookies=session_cookie()) as client:
        yield client
    get_settings.cache_clear()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        sign_in(test_client)
        yield test_client


def assert_clean(body: str) -> None:
    assert not TRACEBACK.search(body), body
    assert "secret" not in body


# ---- database unreachable ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ops", "/inbox", "/cases/RP-20260105-00001"])
def test_a_page_without_its_database_is_a_503_page_in_chinese_by_default(unreachable: TestClient, path: str) -> None:
    page = unreachable.get(path)
    assert page.status_code == 503
    assert "text/html" in page.headers["content-type"]
    assert int(page.headers["retry-after"]) > 0
    assert "暂时无法使用" in page.text and "数据库" in page.text
    assert "Temporarily unavailable" in page.text  # the other language as a hint, as on the refusal pages
    assert_clean(page.text)


def test_the_503_page_follows_the_browsers_language(unreachable: TestClient) -> None:
    page = unreachable.get("/ops", headers={"Accept-Language": "en-GB,en;q=0.9,zh-CN;q=0.5"})
    assert page.status_code == 503
    assert '<html lang="en">' in page.text
    assert re.search(r"<h1>Temporarily unavailable</h1>", page.text)
    assert_clean(page.text)


def test_a_staff_link_gets_the_503_page_in_the_persons_language(unreachable: TestClient) -> None:
    token = tokens.sign(get_settings().signing_key(), tokens.LinkClaims(1, "anna.schmidt", tokens.new_jti()))
    page = unreachable.get("/gates/1", params={"t": token}, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 503
    assert re.search(r"<h1>Temporarily unavailable</h1>", page.text)
    assert_clean(page.text)


def test_a_customer_link_gets_the_503_page_without_the_staff_menu(unreachable: TestClient) -> None:
    token = tokens.sign(get_settings().signing_key(), tokens.LinkClaims(1, "customer", tokens.new_jti()))
    page = unreachable.get("/gates/1", params={"t": token})
    assert page.status_code == 503
    assert "暂时无法使用" in page.text and 'href="/ops"' not in page.text


def test_the_api_without_its_database_answers_503_json(unreachable: TestClient) -> None:
    response = unreachable.get("/api/cases/X")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    detail = response.json()["detail"]
    assert "database" in detail and "try again later" in detail
    assert_clean(response.text)


# ---- an outside system failed --------------------------------------------------------------------------------


def fail_with(error: Exception) -> Callable[..., object]:
    def raiser(*args: object, **kwargs: object) -> object:
        raise error

    return raiser


def test_an_integration_error_is_a_503_for_the_api_and_the_page(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = fail_with(IntegrationError("Prefect API unreachable: refused"))
    monkeypatch.setattr(api, "case_view", failing)
    monkeypatch.setattr(pages, "case_view", failing)
    response = client.get("/api/cases/X")
    assert response.status_code == 503 and "retry-after" in response.headers
    assert "Prefect API unreachable" in response.json()["detail"]
    page = client.get("/cases/X")
    assert page.status_code == 503 and "retry-after" in page.headers
    assert "暂时无法完成" in page.text and "Prefect API unreachable" in page.text
    assert_clean(page.text)


# ---- configuration -------------------------------------------------------------------------------------------


def test_a_broken_policy_is_a_500_page_naming_the_file_and_the_key(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    shutil.copy(PROJECT_ROOT / "policy.yaml", policy)
    text, count = re.subn(r"(?m)^(\s*months:\s*)\d+", r"\g<1>-1", policy.read_text(encoding="utf-8"), count=1)
    assert count == 1
    policy.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AFTERSALES_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    page = client.get("/ops")
    assert page.status_code == 500
    assert "text/html" in page.headers["content-type"]
    assert "系统配置有误" in page.text and str(policy) in page.text and "warranty.months" in page.text
    assert_clean(page.text)


def test_a_configuration_error_in_the_api_is_a_500_json_naming_file_and_key(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = ConfigurationError("unknown role 'x'", file="policy.yaml", key="gates.repair.triage.role")
    monkeypatch.setattr(api, "case_view", fail_with(error))
    response = client.get("/api/cases/X")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "configuration error: policy.yaml: gates.repair.triage.role: unknown role 'x'"
    assert (body["file"], body["key"]) == ("policy.yaml", "gates.repair.triage.role")
