"""Production mode: a web instance refuses what only one machine can have, and instances share nothing in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError
from aftersales.runtime.db import create_schema
from aftersales.web.app import create_app
from tests.integration.conftest import new_postgres_database
from tests.signin import sign_in


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Production mode with nothing else set: no database URL, no secrets (the data folder is `tmp_path`)."""
    for name in ("AFTERSALES_DATABASE_URL", "AFTERSALES_SECRET_KEY", "AFTERSALES_SESSION_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_PRODUCTION", "true")
    monkeypatch.setenv("AFTERSALES_TRUSTED_HOSTS", "testserver")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_production_mode_names_every_setting_missing_and_keeps_no_key_of_its_own(production: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    assert str(refused.value) == (
        "production mode: AFTERSALES_DATABASE_URL, AFTERSALES_SECRET_KEY, AFTERSALES_SESSION_SECRET must be set in "
        "the environment (every web instance and worker shares one database and the same two secrets)")
    with pytest.raises(ConfigurationError):  # a key made on this machine would not open another's links
        get_settings().signing_key()
    assert not list(production.glob("*.key"))


def test_production_mode_refuses_sqlite(production: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"sqlite:///{production / 'a.db'}")
    monkeypatch.setenv("AFTERSALES_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("AFTERSALES_SESSION_SECRET", "s" * 40)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="must be a PostgreSQL URL"):
        create_app()


def test_instances_start_only_after_the_migrations_and_then_share_a_sign_in(
        production: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: str) -> None:
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", new_postgres_database(postgres_server))
    monkeypatch.setenv("AFTERSALES_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("AFTERSALES_SESSION_SECRET", "s" * 40)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match=r"at revision none, this build needs .*aftersales db upgrade"):
        create_app()

    create_schema()  # what `aftersales db upgrade` does before the instances start
    first, second = TestClient(create_app()), TestClient(create_app())
    sign_in(first)
    # The session is the signed cookie itself: the other instance, which never saw the sign-in, accepts it.
    second.cookies = first.cookies
    assert second.get("/ops", follow_redirects=False).status_code == 200
    assert TestClient(create_app()).get("/ops", follow_redirects=False).status_code == 302  # no cookie: to sign-in
    assert not list(production.glob("*.key"))
