"""Whether a case's flow run died with its process, and what to do about it, decided from times alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Step = Literal["reschedule", "attention"]
# States a run of an open case may be found in that need recovery (CANCELLED is a person's decision).
WATCHED_STATES = ("CRASHED", "FAILED", "PENDING", "RUNNING")


@dataclass(frozen=True)
class RunSeen:
    """One run of an open case as the Prefect API showed it."""

    state: str  # state type name
    since: datetime  # when it entered that state
    last_heartbeat: datetime | None = None


def dead_reason(run: RunSeen, now: datetime, *, pending_after: timedelta, silent_after: timedelta) -> str | None:
    """Why this run has no live process (None: it may still be alive).

    Crashed and failed runs are over; a run Pending for long was never started by a live worker; a Running
    run that sent no heartbeat for long lost its process (the heartbeat is the only sign of life it gives).
    """
    if run.state in ("CRASHED", "FAILED"):
        return run.state.lower()
    if run.state == "PENDING" and now - run.since >= pending_after:
        return f"pending for {_minutes(now - run.since)} min"
    if run.state == "RUNNING":
        alive = max(run.since, run.last_heartbeat or run.since)
        if now - alive >= silent_after:
            return f"running without a heartbeat for {_minutes(now - alive)} min"
    return None


def next_step(tries_since_progress: int, max_tries: int) -> Step:
    """Run it again, or, after `max_tries` runs in a row that made no progress, ask a person."""
    return "reschedule" if tries_since_progress < max_tries else "attention"


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)
