"""Retry only what is worth retrying: transient integration failures and lost connections."""

from __future__ import annotations

from typing import Any

from aftersales.errors import is_transient


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
