"""Retry only what is worth retrying: transient integration failures and lost connections."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from aftersales.errors import is_transient

log = logging.getLogger("tasks.retry")
RETRIES = 3  # the tasks' budget (tasks.records.RETRY): a database restart of a few seconds is waited out
RETRY_DELAY_SECONDS = 2
P = ParamSpec("P")
R = TypeVar("R")


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry a transient integration failure, nothing else.

    That is a TransientIntegrationError, or an outside library's failure of the same kind: a lost or locked
    database, a timeout, a refused connection, an httpx transport error, a Prefect API 5xx (see
    `aftersales.errors.is_transient`). Deliberate errors (RuleViolation, NotFound, ConfigurationError...)
    and programming errors (KeyError, ValueError, AssertionError...) fail the task at once.
    """
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classified below; whatever is not transient is not retried
        return is_transient(exc)
    return False


def retried_read(read: Callable[P, R]) -> Callable[P, R]:
    """A read a flow makes outside its tasks (repeated on every replay), retried like the tasks on a transient
    failure: a database restarted under a running flow is waited out instead of failing the whole run."""

    @functools.wraps(read)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(RETRIES + 1):
            try:
                return read(*args, **kwargs)
            except Exception as exc:
                if attempt == RETRIES or not is_transient(exc):
                    raise
                log.warning("%s failed (%s: %s); try %d of %d in %d s", read.__name__, type(exc).__name__,
                            str(exc).splitlines()[0][:200] if str(exc) else "", attempt + 2, RETRIES + 1,
                            RETRY_DELAY_SECONDS)
                time.sleep(RETRY_DELAY_SECONDS)
        raise AssertionError("unreachable")  # the last try returned or raised

    return again
