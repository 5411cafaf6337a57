"""Deadlines of gates on the business calendar configured in the policy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from aftersales.config.policy import CalendarPolicy, Duration, Policy
from aftersales.rules.escalation import GateClock, next_due, reminder_time
from aftersales.sla.calendar import BusinessCalendar, load_overrides


@lru_cache(maxsize=8)
def _calendar(policy_json: str) -> BusinessCalendar:
    cal = CalendarPolicy.model_validate_json(policy_json)
    overrides = load_overrides(cal.overrides_file) if cal.overrides_file else None
    return BusinessCalendar(
        work_start=cal.work_start,
        work_end=cal.work_end,
        tz=ZoneInfo(cal.timezone),
        overrides=overrides,
        fallback_weekends=cal.fallback_weekends,
    )


def calendar_for(policy: Policy) -> BusinessCalendar:
    """The business calendar the policy describes (built once per distinct calendar section)."""
    return _calendar(policy.calendar.model_dump_json())


def due(policy: Policy, start: datetime, duration: Duration) -> datetime:
    """`start` plus a policy duration on the business calendar."""
    return calendar_for(policy).add(start, duration.amount, duration.unit)


def estimated_deadlines(policy: Policy, deadlines: Iterable[datetime]) -> dict[int, int]:
    """Of these deadlines, how many fall in each year whose working days are only an estimate.

    Empty when every deadline rests on published data (the override file or chinesecalendar).
    """
    calendar = calendar_for(policy)
    per_year = Counter(deadline.astimezone(calendar.tz).year for deadline in deadlines)
    estimated = calendar.estimated_years(per_year)
    return {year: per_year[year] for year in estimated}


def remind_time(policy: Policy, opened_at: datetime, deadline_at: datetime, *, urgent: bool) -> datetime | None:
    """When the reminder of a wait from `opened_at` to `deadline_at` goes out."""
    return reminder_time(
        opened_at=opened_at,
        deadline_at=deadline_at,
        fraction=policy.reminders.at_fraction,
        calendar=calendar_for(policy),
        hold_outside_working_hours=policy.reminders.hold_outside_working_hours,
        urgent=urgent,
    )


def local_text(dt: datetime, policy: Policy) -> str:
    """A deadline as people read it, in the company's time zone."""
    return dt.astimezone(ZoneInfo(policy.calendar.timezone)).strftime("%Y-%m-%d %H:%M")


def gate_due_at(policy: Policy, gate: GateTiming) -> datetime | None:
    """When the sweep must next act on a gate (its reminder, else its deadline while rungs remain)."""
    ladder = len(policy.ladder(gate.kind)) if gate.kind in policy.gates else 0
    return next_due(GateClock(gate.opened_at, gate.deadline_at, gate.remind_at, gate.rung, gate.reminded_rung, ladder))


class GateTiming(Protocol):
    """The timing fields of a gate row."""

    kind: str
    opened_at: datetime
    deadline_at: datetime
    remind_at: datetime | None
    rung: int
    reminded_rung: int
