"""Finding a dead flow run and deciding what to do with it, from times alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aftersales.rules.recovery import RunSeen, dead_reason, next_step

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BOUNDS = {"pending_after": timedelta(minutes=3), "silent_after": timedelta(minutes=5)}


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_crashed_and_failed_runs_are_dead_at_once() -> None:
    assert dead_reason(RunSeen("CRASHED", NOW), NOW, **BOUNDS) == "crashed"
    assert dead_reason(RunSeen("FAILED", NOW), NOW, **BOUNDS) == "failed"


def test_a_run_pending_longer_than_the_bound_was_never_started() -> None:
    assert dead_reason(RunSeen("PENDING", ago(2)), NOW, **BOUNDS) is None
    assert dead_reason(RunSeen("PENDING", ago(4)), NOW, **BOUNDS) == "pending for 4 min"


def test_a_running_run_is_alive_while_its_heartbeat_is_recent() -> None:
    assert dead_reason(RunSeen("RUNNING", ago(60), last_heartbeat=ago(1)), NOW, **BOUNDS) is None
    assert dead_reason(RunSeen("RUNNING", ago(4)), NOW, **BOUNDS) is None
    assert dead_reason(RunSeen("RUNNING", ago(60), last_heartbeat=ago(6)), NOW, **BOUNDS) == \
        "running without a heartbeat for 6 min"
    assert dead_reason(RunSeen("RUNNING", ago(7)), NOW, **BOUNDS) == "running without a heartbeat for 7 min"


def test_waiting_and_finished_runs_are_left_alone() -> None:
    for state in ("PAUSED", "SCHEDULED", "COMPLETED", "CANCELLED"):
        assert dead_reason(RunSeen(state, ago(600)), NOW, **BOUNDS) is None


def test_a_person_is_asked_after_the_tries_of_the_policy() -> None:
    assert [next_step(tries, 3) for tries in range(5)] == ["reschedule"] * 3 + ["attention"] * 2
