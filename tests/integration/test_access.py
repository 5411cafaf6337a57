"""Who may open what: sign-in, roles, intake keys, the rate limit, the demo inbox, headers and file modes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aftersales.access import oidc
from aftersales.access.passwords import check_password
from aftersales.cli import app as cli
from aftersales.config.settings import Settings, get_settings
from aftersales.config.staff import get_staff
from aftersales.errors import ConfigurationError
from aftersales.gates.links import issue_link
from aftersales.runtime.db import session_scope
from aftersales.web.app import create_app
from aftersales.web.auth import safe_next
from models import Case
from tests.integration.conftest import REPAIR_CASE
from tests.integration.test_web_pages import make_case, make_gate
from tests.signin import HOTLINE_KEY, PASSWORD, WEBSITE_KEY, bearer, sign_in

NUMBER = "RP-20260105-00001"
STAFF_PAGES = ["/", "/ops", "/ops/", f"/cases/{NUMBER}", f"/cases/{NUMBER}/forms/FORM-MA-076", "/inbox", "/inbox/1",
               "/docs", "/openapi.json"]


@pytest.fixture
def client(settings: Settings, no_prefect: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


# ---- anonymous visitors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_an_anonymous_visitor_is_sent_to_sign_in_from_every_page(client: TestClient, path: str) -> None:
    make_case()
    page = client.get(path, follow_redirects=False)
    assert page.status_code == 302
    location = page.headers["location"]
    assert location.startswith("/signin?next=")  # relative: never built from the Host header
    assert parse_qs(urlsplit(location).query)["next"] == [path]
    assert NUMBER not in page.text and "王小明" not in page.text


def test_an_anonymous_post_is_refused_too(client: TestClient) -> None:
    make_case()
    assert client.post(f"/cases/{NUMBER}/retry", follow_redirects=False).status_code == 302
    assert client.post("/api/cases", json=REPAIR_CASE).status_code == 401
    api = client.get(f"/api/cases/{NUMBER}")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    assert "王小明" not in api.text


def test_gate_links_sign_in_and_health_need_no_sign_in(client: TestClient) -> None:
    gate = make_gate(make_case())
    assert client.get(issue_link(gate, "li.na")).status_code == 200
    assert client.get("/gates/1?t=forged").status_code == 403  # the token is the credential: a forged one fails
    assert client.get("/signin").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_next_after_sign_in_only_goes_to_a_local_path() -> None:
    assert safe_next("/cases/RP-1?x=1") == "/cases/RP-1?x=1"
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                    "/ops\r\nSet-Cookie: x=1", "", None):
        assert safe_next(hostile) == "/ops"


# ---- signing in -----------------------------------------------------------------------------------------------


def test_a_person_signs_in_with_the_password_set_by_the_cli_and_signs_out(client: TestClient) -> None:
    made = CliRunner().invoke(cli, ["staff", "set-password", "chen.jing", "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    wrong = client.post("/signin", data={"staff_id": "chen.jing", "password": "not it at all", "next": "/ops"})
    assert wrong.status_code == 401 and "工号或密码不正确" in wrong.text
    unknown = client.post("/signin", data={"staff_id": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401 and "工号或密码不正确" in unknown.text  # the same answer: no id enumeration

    done = client.post("/signin", data={"staff_id": "chen.jing", "password": PASSWORD, "next": "/cases/X"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/cases/X"
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and PASSWORD not in cookie
    ops = client.get("/ops")
    assert ops.status_code == 200 and "陈静" in ops.text

    assert client.get("/signout", follow_redirects=False).status_code == 303
    assert client.get("/ops", follow_redirects=False).status_code == 302


def test_set_password_refuses_a_short_or_mistyped_password_and_an_unknown_person(settings: Settings) -> None:
    runner = CliRunner()
    short = runner.invoke(cli, ["staff", "set-password", "chen.jing", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 10" in short.output
    unknown = runner.invoke(cli, ["staff", "set-password", "nobody", "--password-stdin"], input=PASSWORD + "\n")
    assert unknown.exit_code == 2 and "nobody" in unknown.output
    assert not check_password("chen.jing", "short") and not check_password("nobody", PASSWORD)


def test_a_forged_session_cookie_is_no_sign_in(client: TestClient) -> None:
    client.cookies.set("aftersales_session", "eyJzdGFmZiI6ICJjaGVuLmppbmcifQ==.forged.sig")
    assert client.get("/ops", follow_redirects=False).status_code == 302


def test_too_many_sign_in_attempts_are_slowed_down(client: TestClient) -> None:
    answers = [client.post("/signin", data={"staff_id": "chen.jing", "password": "guess-number-x"}).status_code
               for _ in range(11)]
    assert answers[:10] == [401] * 10 and answers[10] == 429


# ---- roles ------------------------------------------------------------------------------------------------------


def test_operations_pages_are_for_the_operations_roles_only(client: TestClient) -> None:
    sign_in(client, "zhang.wei")  # service engineer
    page = client.get("/ops")
    assert page.status_code == 403
    assert "无权查看" in page.text and "after_sales_supervisor" in page.text  # says why
    for operations in ("chen.jing", "wang.fang", "liu.yang"):  # supervisor, manager, GM (policy access.operations)
        sign_in(client, operations)
        assert client.get("/ops").status_code == 200


def test_a_case_is_for_the_staff_who_hold_or_held_one_of_its_steps(client: TestClient) -> None:
    case_id = make_case()
    make_gate(case_id)  # repair.triage waits on the role customer_service: li.na holds it
    sign_in(client, "zhang.wei")
    for path in (f"/cases/{NUMBER}", f"/cases/{NUMBER}/forms/FORM-MA-076"):
        refused = client.get(path)
        assert refused.status_code == 403 and "王小明" not in refused.text
    assert client.get(f"/api/cases/{NUMBER}").status_code == 403
    assert client.post(f"/cases/{NUMBER}/retry").status_code == 403

    sign_in(client, "li.na")
    assert client.get(f"/cases/{NUMBER}").status_code == 200
    assert client.get(f"/cases/{NUMBER}/forms/FORM-MA-076").status_code == 200
    assert client.get(f"/api/cases/{NUMBER}").json()["number"] == NUMBER
    assert client.get("/ops").status_code == 403

    make_gate(case_id, key="plan", kind="repair.plan", input_model="PlanInput", role="service_engineer")
    sign_in(client, "zhang.wei")  # now holds a step of it
    assert client.get(f"/cases/{NUMBER}").status_code == 200


# ---- the API: intake keys ---------------------------------------------------------------------------------------


def test_a_key_opens_cases_of_its_channel_and_reads_only_those(client: TestClient) -> None:
    assert client.post("/api/cases", json=REPAIR_CASE, headers=bearer("wrong-key-wrong-key")).status_code == 401
    opened = client.post("/api/cases", json=REPAIR_CASE, headers=bearer())
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    with session_scope() as session:
        stored = session.query(Case).filter(Case.number == number).one()
        assert stored.opened_by == f"key:hotline:{hashlib.sha256(HOTLINE_KEY.encode()).hexdigest()[:16]}"
    assert client.get(f"/api/cases/{number}", headers=bearer()).json()["number"] == number

    other = client.get(f"/api/cases/{number}", headers=bearer(WEBSITE_KEY))
    assert other.status_code == 403 and "did not open" in other.json()["detail"]
    wrong_channel = client.post("/api/cases", json=REPAIR_CASE, headers=bearer(WEBSITE_KEY))
    assert wrong_channel.status_code == 403 and "website" in wrong_channel.json()["detail"]
    make_case()  # opened by no key (the CLI)
    assert client.get(f"/api/cases/{NUMBER}", headers=bearer()).status_code == 403
    # nothing else: no page, no other route
    for path in ("/ops", f"/cases/{number}", "/api/other"):
        assert client.get(path, headers=bearer(), follow_redirects=False).status_code in (302, 403)
    assert client.get("/api/other", headers=bearer()).status_code == 403


def test_a_key_may_be_configured_as_its_sha256(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "an-intake-key-known-only-by-its-hash"
    monkeypatch.setenv("AFTERSALES_INTAKE_API_KEYS", f"hotline:{hashlib.sha256(secret.encode()).hexdigest()}")
    get_settings.cache_clear()
    assert client.post("/api/cases", json=REPAIR_CASE, headers=bearer(secret)).status_code == 201
    assert client.post("/api/cases", json=REPAIR_CASE,
                       headers=bearer(hashlib.sha256(secret.encode()).hexdigest())).status_code == 401


@pytest.mark.parametrize("entries", ["hotline", "pigeon:abcdefghijklmnopq", "hotline:short"])
def test_a_bad_key_list_stops_the_app_naming_the_setting(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                         entries: str) -> None:
    monkeypatch.setenv("AFTERSALES_INTAKE_API_KEYS", entries)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="AFTERSALES_INTAKE_API_KEYS entry 1"):
        create_app()


def test_opening_cases_is_rate_limited_per_key(settings: Settings, no_prefect: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_INTAKE_RATE_PER_MINUTE", "3")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        answers = [client.post("/api/cases", json=REPAIR_CASE, headers=bearer()) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert 0 < int(answers[3].headers["retry-after"]) <= 60
        # another key has its own budget
        website = {**REPAIR_CASE, "channel": "website"}
        assert client.post("/api/cases", json=website, headers=bearer(WEBSITE_KEY)).status_code == 201


# ---- demo inbox, headers, hosts, files ------------------------------------------------------------------------


def test_the_inbox_exists_only_in_demo_mode(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in(client)
    assert client.get("/inbox").status_code == 200 and 'href="/inbox"' in client.get("/ops").text
    monkeypatch.setenv("AFTERSALES_CUSTOMER_APPRISE_URL", "mailtos://u:p@smtp.example.com?to={email}")
    get_settings.cache_clear()
    for path in ("/inbox", "/inbox/1"):
        gone = client.get(path)
        assert gone.status_code == 404 and "demo mode" in gone.text
    assert 'href="/inbox"' not in client.get("/ops").text


def test_a_real_staff_destination_ends_demo_mode(client: TestClient, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    staff = get_settings().staff_file.read_text(encoding="utf-8")
    real = tmp_path / "staff.yaml"
    real.write_text(staff.replace('"sink:li.na@example.com"', '"dingtalk://token/"'), encoding="utf-8")
    monkeypatch.setenv("AFTERSALES_STAFF_FILE", str(real))
    get_settings.cache_clear()
    assert get_staff().person("li.na").notify == ["dingtalk://token/"]
    sign_in(client)
    assert client.get("/inbox").status_code == 404
    assert CliRunner().invoke(cli, ["staff", "demo-passwords"]).exit_code == 2


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    gate = make_gate(make_case())
    responses = [client.get(issue_link(gate, "li.na")), client.get("/signin"), client.get("/healthz"),
                 client.get("/ops", follow_redirects=False), client.get("/api/cases/X")]
    sign_in(client)
    responses += [client.get("/ops"), client.get(f"/cases/{NUMBER}"), client.get("/api/cases/" + NUMBER)]
    for response in responses:
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"


def test_an_unknown_host_is_refused_and_never_redirected_to(client: TestClient) -> None:
    sign_in(client)
    evil = client.get("/ops/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert evil.status_code == 400 and "evil.example" not in evil.headers.get("location", "")
    ok = client.get("/ops/", follow_redirects=False)
    assert ok.status_code in (200, 302, 307) and "evil" not in ok.headers.get("location", "")


def test_the_data_folder_and_its_files_are_the_owners_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(data))
    monkeypatch.delenv("AFTERSALES_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    old = os.umask(0o022)  # as a usual shell would
    try:
        from aftersales.runtime.db import create_schema

        create_schema()
        get_settings().signing_key()
        get_settings().session_key()
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("aftersales.db", "secret.key", "session.key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    get_settings.cache_clear()


# ---- OpenID Connect --------------------------------------------------------------------------------------------


class _Discovery(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps({"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                           "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
                           "userinfo_endpoint": f"{issuer}/userinfo", "response_types_supported": ["code"],
                           "id_token_signing_alg_values_supported": ["RS256"]}).encode()
        self.send_response(200 if self.path == "/.well-known/openid-configuration" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_with_openid_connect_sign_in_goes_to_the_providers_authorize_url(
    settings: Settings, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_OIDC_ISSUER", provider)
    monkeypatch.setenv("AFTERSALES_OIDC_CLIENT_ID", "aftersales-web")
    monkeypatch.setenv("AFTERSALES_OIDC_CLIENT_SECRET", "s3cret")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        page = client.get("/signin")
        assert "/signin/oidc?next=" in page.text and 'name="password"' not in page.text
        assert client.post("/signin", data={"staff_id": "chen.jing", "password": PASSWORD}).status_code == 400
        start = client.get("/signin/oidc?next=/cases/X", follow_redirects=False)
    assert start.status_code == 302
    target = urlsplit(start.headers["location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{provider}/authorize"
    assert query["client_id"] == ["aftersales-web"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{settings.public_base_url}/signin/oidc/callback"]
    assert "openid" in query["scope"][0] and query["state"][0] and query["nonce"][0]


@pytest.mark.parametrize(("env", "key"), [
    ({"AFTERSALES_OIDC_ISSUER": "https://id.example.com"}, "oidc_client_id"),
    ({"AFTERSALES_OIDC_ISSUER": "http://id.example.com", "AFTERSALES_OIDC_CLIENT_ID": "a",
      "AFTERSALES_OIDC_CLIENT_SECRET": "b"}, "oidc_issuer"),
    ({"AFTERSALES_OIDC_ISSUER": "https://id.example.com", "AFTERSALES_OIDC_CLIENT_ID": "a",
      "AFTERSALES_OIDC_CLIENT_SECRET": "b", "AFTERSALES_OIDC_CLAIM": "email"}, "oidc_email_domain"),
])
def test_an_incomplete_openid_connect_setup_is_refused_at_start(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                                env: dict[str, str], key: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    assert refused.value.key == key


def test_the_providers_claim_names_a_staff_id(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    staff = get_staff()
    assert oidc.staff_id_for({"preferred_username": "chen.jing"}, settings, staff) == "chen.jing"
    assert oidc.staff_id_for({"preferred_username": "stranger"}, settings, staff) is None
    assert oidc.staff_id_for({}, settings, staff) is None
    monkeypatch.setenv("AFTERSALES_OIDC_CLAIM", "email")
    monkeypatch.setenv("AFTERSALES_OIDC_EMAIL_DOMAIN", "corp.example.com")
    get_settings.cache_clear()
    by_mail = get_settings()
    assert oidc.staff_id_for({"email": "Chen.Jing@corp.example.com"}, by_mail, staff) == "chen.jing"
    assert oidc.staff_id_for({"email": "chen.jing@elsewhere.example"}, by_mail, staff) is None
    assert oidc.staff_id_for({"email": "chen.jing@corp.example.com", "email_verified": False}, by_mail, staff) is None
