"""The retry condition of the Prefect tasks: transient integration failures only, with real exception instances."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Completed, Failed
from pydantic import BaseModel
from sqlalchemy import create_engine, exc, text

from aftersales.errors import (
    ConfigurationError,
    Forbidden,
    IntegrationError,
    NotFound,
    RuleViolation,
    TransientIntegrationError,
    is_transient,
    is_unavailable,
    one_line,
)
from tasks.retry import RETRIES, only_transient, retried_read


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raised(action: Callable[[], object]) -> BaseException:
    """The exception `action` really raises."""
    try:
        action()
    except BaseException as error:  # noqa: BLE001
        return error
    raise AssertionError("expected an exception")


def retried(error: BaseException) -> bool:
    """What Prefect decides for a task that failed with `error`."""
    return only_transient(None, None, Failed(data=error))


# ---- real outside failures ---------------------------------------------------------------------------------


def sqlite_database_is_locked(tmp_path: Path) -> BaseException:
    """A second writer on a SQLite file another connection holds exclusively, without waiting."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    holder = create_engine(url, connect_args={"timeout": 0}).connect()
    holder.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    holder.commit()
    holder.exec_driver_sql("BEGIN EXCLUSIVE")
    try:
        with create_engine(url, connect_args={"timeout": 0}).connect() as other:
            return raised(lambda: other.execute(text("INSERT INTO t VALUES (1)")))
    finally:
        holder.rollback()
        holder.close()


def sqlite_no_such_table(tmp_path: Path) -> BaseException:
    with create_engine(f"sqlite:///{tmp_path / 'empty.db'}").connect() as conn:
        return raised(lambda: conn.execute(text("SELECT * FROM nowhere")))


def sqlite_integrity_error(tmp_path: Path) -> BaseException:
    with create_engine(f"sqlite:///{tmp_path / 'unique.db'}").connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER UNIQUE)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        return raised(lambda: conn.execute(text("INSERT INTO t VALUES (1)")))


def postgres_refused() -> BaseException:
    engine = create_engine(f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/x")
    return raised(engine.connect)


def socket_refused() -> BaseException:
    return raised(lambda: socket.create_connection(("127.0.0.1", free_port()), timeout=5))


def httpx_refused() -> BaseException:
    return raised(lambda: httpx.get(f"http://127.0.0.1:{free_port()}/api/health", timeout=5))


def http_status(status: int) -> httpx.HTTPStatusError:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status)))
    error = raised(lambda: client.get("http://prefect.test/api/flow_runs/x").raise_for_status())
    assert isinstance(error, httpx.HTTPStatusError)
    return error


def prefect_status(status: int) -> BaseException:
    """How the Prefect client reports an API answer it did not like."""
    return PrefectHTTPStatusError.from_httpx_error(http_status(status))


def test_sqlite_database_is_locked_is_a_real_operational_error_and_is_retried(tmp_path: Path):
    error = sqlite_database_is_locked(tmp_path)
    assert isinstance(error, exc.OperationalError) and "database is locked" in str(error)
    assert retried(error)


def test_an_unreachable_postgresql_is_retried():
    error = postgres_refused()
    assert isinstance(error, exc.OperationalError)
    assert retried(error)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(socket_refused, id="ConnectionRefusedError"),
        pytest.param(lambda: TimeoutError("timed out"), id="TimeoutError"),
        pytest.param(lambda: ConnectionResetError(104, "Connection reset by peer"), id="ConnectionResetError"),
        pytest.param(httpx_refused, id="httpx.ConnectError"),
        pytest.param(lambda: httpx.ReadTimeout("read timed out"), id="httpx.ReadTimeout"),
        pytest.param(lambda: httpx.RemoteProtocolError("server disconnected"), id="httpx.RemoteProtocolError"),
        pytest.param(lambda: http_status(503), id="http-503"),
        pytest.param(lambda: http_status(429), id="http-429"),
        pytest.param(lambda: prefect_status(500), id="prefect-api-500"),
        pytest.param(lambda: prefect_status(502), id="prefect-api-502"),
        pytest.param(lambda: exc.DisconnectionError("connection lost"), id="sqlalchemy.DisconnectionError"),
        pytest.param(lambda: exc.TimeoutError("QueuePool limit reached"), id="sqlalchemy-pool-timeout"),
        pytest.param(
            lambda: exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
            id="connection-closed-mid-query",
        ),
        pytest.param(
            lambda: exc.InterfaceError("SELECT 1", {}, Exception("the connection is closed")),
            id="InterfaceError-connection-closed",
        ),
        pytest.param(
            lambda: exc.OperationalError("SELECT 1", {}, Exception("boom"), connection_invalidated=True),
            id="invalidated-connection",
        ),
        pytest.param(lambda: TransientIntegrationError("smtp refused"), id="TransientIntegrationError"),
    ],
)
def test_transient_failures_are_retried(make: Callable[[], BaseException]):
    error = make()
    assert is_transient(error)
    assert retried(error)


def test_an_integration_error_wrapping_a_lost_connection_is_retried():
    cause = httpx_refused()
    try:
        raise IntegrationError(f"Prefect API unreachable: {cause}") from cause
    except IntegrationError as error:
        assert retried(error)


class _Model(BaseModel):
    x: int


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: raised(lambda: {"present": 1}["missing"]), id="KeyError"),
        pytest.param(lambda: raised(lambda: int("x")), id="ValueError"),
        pytest.param(lambda: AssertionError("case.id is not None"), id="AssertionError"),
        pytest.param(lambda: raised(lambda: None.x), id="AttributeError"),  # type: ignore[attr-defined]
        pytest.param(lambda: raised(lambda: 1 / 0), id="ZeroDivisionError"),
        pytest.param(lambda: raised(lambda: _Model(x="y")), id="pydantic.ValidationError"),  # type: ignore[arg-type]
        pytest.param(lambda: FileNotFoundError(2, "No such file", "policy.yaml"), id="FileNotFoundError"),
        pytest.param(lambda: RuleViolation("step not allowed now"), id="RuleViolation"),
        pytest.param(lambda: NotFound("no case X"), id="NotFound"),
        pytest.param(lambda: Forbidden("wrong link"), id="Forbidden"),
        pytest.param(lambda: ConfigurationError("unknown role", file="policy.yaml", key="gates.x.role"),
                     id="ConfigurationError"),
        pytest.param(lambda: IntegrationError("flow run gone"), id="IntegrationError"),
        pytest.param(lambda: http_status(404), id="http-404"),
        pytest.param(lambda: prefect_status(422), id="prefect-api-422"),
        pytest.param(lambda: raised(lambda: httpx.get("ftp://example.test/")), id="httpx.UnsupportedProtocol"),
        pytest.param(lambda: exc.OperationalError("SELECT", {}, Exception("near 'x': syntax error")), id="sql-syntax"),
    ],
)
def test_programming_and_deliberate_errors_are_not_retried(make: Callable[[], BaseException]):
    error = make()
    assert not is_transient(error)
    assert not retried(error)


def test_a_missing_table_and_a_broken_constraint_are_not_retried(tmp_path: Path):
    missing = sqlite_no_such_table(tmp_path)
    duplicate = sqlite_integrity_error(tmp_path)
    assert isinstance(missing, exc.OperationalError) and isinstance(duplicate, sqlalchemy.exc.IntegrityError)
    assert not retried(missing)
    assert not retried(duplicate)


def test_a_completed_state_is_not_retried():
    assert only_transient(None, None, Completed(data=1)) is False


# ---- what web and CLI call "unavailable" ---------------------------------------------------------------------


def test_every_integration_error_and_database_failure_is_unavailable(tmp_path: Path):
    assert is_unavailable(IntegrationError("flow run gone"))
    assert is_unavailable(postgres_refused())
    assert is_unavailable(sqlite_no_such_table(tmp_path))  # the database itself is not usable
    assert not is_unavailable(ConfigurationError("x"))
    assert not is_unavailable(KeyError("x"))


def test_one_line_gives_the_drivers_first_line_without_sqlalchemy_noise():
    line = one_line(postgres_refused())
    assert "\n" not in line and "sqlalche.me" not in line
    assert "refused" in line.lower() or "failed" in line.lower()


# ---- ConfigurationError ----------------------------------------------------------------------------------------


def test_a_configuration_error_names_file_and_key():
    error = ConfigurationError("unknown role 'x'", file=Path("policy.yaml"), key="gates.repair.triage.role")
    assert str(error) == "policy.yaml: gates.repair.triage.role: unknown role 'x'"
    assert (error.file, error.key, error.reason) == ("policy.yaml", "gates.repair.triage.role", "unknown role 'x'")
    assert str(ConfigurationError("no SMTP host")) == "no SMTP host"


def test_a_configuration_error_survives_pickling_as_prefect_stores_it():
    error = ConfigurationError("unknown role 'x'", file="policy.yaml", key="gates.repair.triage.role")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.file, copy.key) == (str(error), error.file, error.key)


def test_a_read_outside_the_tasks_waits_out_a_database_that_comes_back(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("tasks.retry.RETRY_DELAY_SECONDS", 0)
    outcomes: list[BaseException | str] = [postgres_refused(), postgres_refused(), "the case"]
    calls: list[int] = []

    @retried_read
    def read() -> str:
        calls.append(1)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert read() == "the case" and len(calls) == 3


def test_a_read_gives_up_after_the_tasks_budget_and_never_retries_a_deliberate_error(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("tasks.retry.RETRY_DELAY_SECONDS", 0)
    calls: list[str] = []

    @retried_read
    def down() -> None:
        calls.append("down")
        raise postgres_refused()

    @retried_read
    def missing() -> None:
        calls.append("missing")
        raise NotFound("case RP-1 not found")

    with pytest.raises(exc.OperationalError):
        down()
    with pytest.raises(NotFound):
        missing()
    assert calls == ["down"] * (RETRIES + 1) + ["missing"]
