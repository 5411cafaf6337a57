"""Retry only what is worth retrying: transient integration failures and lost connections."""

from __future__ import annotations

from typing import Any

from aftersales.errors import AftersalesError, TransientIntegrationError


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry unless the failure is one of our deliberate, permanent errors."""
    try:
        state.result()
    except TransientIntegrationError:
        return True
    except AftersalesError:
        return False
    except Exception:  # noqa: BLE001 - database or network hiccups are worth another try
        return True
    return False
