"""The documented exception tree; entry points turn these into clear messages and statuses.

Every error the product raises on purpose is an ``AftersalesError``:

``AftersalesError``
    Base class; raised bare only for a stack part that stopped (``aftersales up``).
``RuleViolation``
    A request breaks a business rule: bad input, a step not allowed now.
    Web: 422 ``{"detail": ...}``. CLI: ``error: ...``, exit 2.
``NotFound``
    A case, gate, person or message that does not exist.
    Web: 404 (pages show their "not found" page; the API and other routes ``{"detail": ...}``). CLI: exit 2.
``Forbidden``
    A link or person that may not do what it asked (forged, used, expired links have their own pages).
    Web: 403. CLI: exit 2.
``ConfigurationError``
    A file or setting an operator controls is not usable: policy.yaml, staff.yaml, products.yaml,
    eligibility-profiles.yaml (``rules.eligibility.ProfileFileError`` is one), the label files, a missing or
    broken message template, an Apprise URL Apprise refuses. Carries ``file`` and ``key`` (dotted path inside
    the file) when known, and reads ``policy.yaml: gates.repair.triage.role: unknown role 'x'``; a pydantic
    validation error of a whole file becomes one ConfigurationError listing the dotted key of each problem.
    Never retried. Web: 500 with a page (browser) or ``{"detail", "file", "key"}`` (API) naming file and key.
    CLI: ``error: <file>: <key>: ...``, exit 2.
``IntegrationError``
    An outside system (Prefect API, mail, chat, a stack process) failed in a way a retry will not fix as such.
    Web: 503 with ``Retry-After`` (a page in the reader's language, or ``{"detail": ...}`` for ``/api/*``).
    CLI: one line ``error: ...``, exit 1.
``TransientIntegrationError(IntegrationError)``
    An outside failure worth retrying (a send Apprise reported as failed). Prefect tasks retry it
    (``tasks.retry.only_transient``); web and CLI treat it as any IntegrationError.

Outside failures that are not ours but mean the same, recognised where they cross into our code
(``is_transient``): SQLAlchemy ``OperationalError``/``InterfaceError`` that lost the connection or found the
database locked, ``DisconnectionError``, a pool timeout; the builtin ``TimeoutError`` and ``ConnectionError``;
httpx transport errors (connect, read, write, timeouts, remote protocol) and 5xx/408/429 answers, which is how
the Prefect client reports an unreachable or failing API. The web app answers a database
``OperationalError``/``InterfaceError`` and these outside failures with the same 503 as an IntegrationError,
and the CLI with the same one line and exit 1. Anything else (KeyError, ValueError, AssertionError...) is a
programming error: never retried, a 500 in the web app.

This module imports nothing outside the standard library (``aftersales.rules`` imports it): it recognises
outside exceptions only through modules already loaded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any


class AftersalesError(Exception):
    """Base of every error this product raises on purpose."""


class RuleViolation(AftersalesError):
    """A request breaks a business rule (bad input, step not allowed now)."""


class NotFound(AftersalesError):
    """A case, gate or person that does not exist."""


class Forbidden(AftersalesError):
    """A link or person that may not do what it asked."""


class ConfigurationError(AftersalesError):
    """A file or setting an operator controls is not usable; names the file and the key when known."""

    def __init__(self, message: str, *, file: str | os.PathLike[str] | None = None, key: str | None = None) -> None:
        self.file: str | None = os.fspath(file) if file is not None else None
        self.key: str | None = key or None
        self.reason = message
        # The formatted text is the only positional argument, so the error pickles (Prefect stores it).
        super().__init__(": ".join(part for part in (self.file, self.key, message) if part))

    @classmethod
    def from_validation(
        cls, exc: Any, *, file: str | os.PathLike[str] | None, what: str, at: Sequence[str | int] = ()
    ) -> ConfigurationError:
        """One error for a pydantic ValidationError of `file`, naming the dotted key of each problem.

        `at` is where the validated data sits in the file (e.g. ``("profiles", "grocery")``); `what` says
        what the file should have been ("policy", "staff directory").
        """
        problems = [_problem(error, at) for error in exc.errors()]
        listed = "; ".join(f"{key}: {message}" if key else message for key, message in problems)
        error = cls(f"not a valid {what}: {listed}", file=file)
        error.key = next((key for key, _ in problems if key), None)
        return error

    @classmethod
    def from_yaml(cls, exc: Exception, *, file: str | os.PathLike[str]) -> ConfigurationError:
        """One line for a PyYAML error of `file`, with the line and column it stopped at."""
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        return cls(f"not valid YAML{where}: {problem}", file=file)


class IntegrationError(AftersalesError):
    """An outside system (mail, chat, Prefect API) failed."""


class TransientIntegrationError(IntegrationError):
    """An outside failure worth retrying."""


class KeyedValueError(ValueError):
    """Raised inside a pydantic validator to name the key at fault (relative to the model validated).

    Not part of the tree: pydantic turns it into a validation error, and `ConfigurationError.from_validation`
    puts its key into the dotted path a model-level check otherwise lacks.
    """

    def __init__(self, key: str | Iterable[str | int], message: str) -> None:
        self.key = key if isinstance(key, str) else dotted(key)
        super().__init__(message)


def dotted(parts: Iterable[str | int]) -> str:
    """A location as a dotted key: ``("gates", "repair.triage", "role")`` -> ``gates.repair.triage.role``."""
    return ".".join(str(part) for part in parts)


def _problem(error: dict[str, Any], at: Sequence[str | int]) -> tuple[str, str]:
    loc: list[str | int] = [*at, *error.get("loc", ())]
    message = str(error.get("msg", ""))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError):
        message = str(cause)  # without pydantic's "Value error, " prefix
        if isinstance(cause, KeyedValueError) and cause.key:
            loc.append(cause.key)
    return dotted(loc), message


# ---- outside failures ----------------------------------------------------------------------------------------

# Substrings of driver messages that mean the connection is gone or the database is busy, not a wrong query.
_DB_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "could not connect",
    "connection refused",
    "connection failed",
    "connection reset",
    "connection timed out",
    "timeout expired",
    "server closed the connection",
    "connection is closed",
    "connection already closed",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "ssl connection has been closed",
    "lost connection",
    "server has gone away",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
    "broken pipe",
)
# PostgreSQL SQLSTATEs of the same: class 08 (connection exception), shutdown/startup, too many connections,
# and the serialization failure / deadlock a retry of the whole transaction resolves (PostgreSQL's "locked").
_PG_TRANSIENT_STATES = ("57P01", "57P02", "57P03", "53300", "40001", "40P01")


def _module(name: str) -> Any:
    """A module only when something already imported it: an instance of its classes cannot exist otherwise."""
    return sys.modules.get(name)


def _database_unavailable(exc: BaseException) -> bool:
    """A SQLAlchemy error that lost the connection, could not get one, or found the database locked."""
    sa = _module("sqlalchemy.exc")
    if sa is None or not isinstance(exc, sa.SQLAlchemyError):
        return False
    if isinstance(exc, sa.DisconnectionError | sa.TimeoutError):  # pool: lost/checked-out connection, pool full
        return True
    if not isinstance(exc, sa.OperationalError | sa.InterfaceError):
        return False
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", None)
    if isinstance(orig, ConnectionError | TimeoutError):
        return True
    state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if state.startswith("08") or state in _PG_TRANSIENT_STATES:
        return True
    text = str(orig if orig is not None else exc).lower()
    return any(marker in text for marker in _DB_UNAVAILABLE)


def _http_unavailable(exc: BaseException) -> bool:
    """An httpx (hence Prefect client) failure to reach a server, or a server answering 5xx/408/429."""
    httpx = _module("httpx")
    if httpx is None:
        return False
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):  # prefect.exceptions.PrefectHTTPStatusError is one
        status = exc.response.status_code
        return status >= 500 or status in (408, 429)
    return False


def is_transient(exc: BaseException) -> bool:
    """Whether another try may succeed: a transient integration failure, ours or an outside library's.

    Deliberate errors (RuleViolation, NotFound, Forbidden, ConfigurationError, a permanent IntegrationError)
    and programming errors (KeyError, ValueError, AssertionError, ...) are not. An IntegrationError that
    wraps a transient outside failure (``raise IntegrationError(...) from httpx.ConnectError``) is.
    """
    if isinstance(exc, TransientIntegrationError):
        return True
    if isinstance(exc, IntegrationError):
        cause = exc.__cause__
        return cause is not None and cause is not exc and is_transient(cause)
    if isinstance(exc, AftersalesError):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return _database_unavailable(exc) or _http_unavailable(exc)


def is_database_failure(exc: BaseException) -> bool:
    """A SQLAlchemy error of the database itself being unusable (Operational/Interface/Disconnection/pool)."""
    sa = _module("sqlalchemy.exc")
    return sa is not None and isinstance(
        exc, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError | sa.TimeoutError
    )


def is_unavailable(exc: BaseException) -> bool:
    """What web and CLI report as "a service we depend on is unavailable": 503 / exit 1."""
    return isinstance(exc, IntegrationError) or is_database_failure(exc) or is_transient(exc)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error's text (a driver's own message for database errors), shortened."""
    orig = getattr(exc, "orig", None) if is_database_failure(exc) else None
    text = str(orig if orig is not None else exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
