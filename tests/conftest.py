"""Shared fixtures: the whole product running on loopback for flow and browser tests."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aftersales.config.settings import get_settings
from aftersales.runtime.leftovers import STACK_ID
from aftersales.runtime.stack import Stack, StackConfig, free_port
from tests.signin import HOTLINE_KEY


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, `timeout`, `kill`) ends the run like Ctrl-C, so fixtures stop what they started."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Passwords set and checked in this process hash with argon2's cheapest profile (the library's own, for
    tests): a sign-in otherwise costs a second of CPU, hundreds of times. Stacks and the product keep theirs."""
    from argon2 import PasswordHasher, profiles

    from aftersales.access import passwords

    real = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    passwords._hasher = real


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Embedded PostgreSQL, a real Prefect server with the flows deployed, one worker, web app, mail sink."""
    data_dir = tmp_path_factory.mktemp("stack")
    # The stack also knows a procedure declared in the tests only (tests/flows/toy_procedure.py).
    config = StackConfig(data_dir=data_dir, prefect_port=free_port(), web_port=free_port(), smtp_port=free_port(),
                         extra_env={"AFTERSALES_PROCEDURE_MODULES": "tests.flows.toy_procedure",
                                    # the tests open cases as the hotline's intake system (tests/signin.py)
                                    "AFTERSALES_INTAKE_API_KEYS": f"hotline:{HOTLINE_KEY}"})
    running = Stack(config, progress=lambda message: None)
    try:  # stopped however the session ends; if this process dies first, the stack's watcher ends it
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """This test process configured like the stack's parts (same database, Prefect API, signing key)."""
    for key, value in stack.env().items():
        if key.startswith(("AFTERSALES_", "PREFECT_")) and key != STACK_ID:  # this process is no part of it
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    # Prefect reads its settings once at import: point this process's client at the stack explicitly.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.config.prefect_api}):
        yield stack
    get_settings.cache_clear()


def stack_db(stack: Stack) -> Path:
    """The SQLite file of the stack's own database."""
    return stack.config.data_dir / "aftersales.db"
