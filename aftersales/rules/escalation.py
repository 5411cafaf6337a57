"""Reminders and escalation of a waiting gate, decided from times alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Action = Literal["escalate", "remind"]


class Calendar(Protocol):
    """What these rules need of the business calendar."""

    def add(self, start: datetime, amount: float, unit: str) -> datetime: ...
    def next_working_time(self, dt: datetime) -> datetime: ...


@dataclass(frozen=True)
class GateClock:
    """The timing state of one waiting gate."""

    opened_at: datetime
    deadline_at: datetime
    remind_at: datetime | None
    rung: int
    reminded_rung: int
    ladder_length: int


def reminder_time(
    *,
    opened_at: datetime,
    deadline_at: datetime,
    fraction: float,
    calendar: Calendar,
    hold_outside_working_hours: bool,
    urgent: bool,
) -> datetime | None:
    """When to remind: after `fraction` of the wait, held to working hours unless urgent, never after the deadline."""
    if deadline_at <= opened_at:
        return None
    at = opened_at + (deadline_at - opened_at) * fraction
    if hold_outside_working_hours and not urgent:
        at = calendar.next_working_time(at)
    return at if at < deadline_at else None


def due_action(clock: GateClock, now: datetime) -> Action | None:
    """What the sweep must do now: escalate a late gate (while rungs remain), or remind once per rung."""
    if now >= clock.deadline_at and clock.rung < clock.ladder_length:
        return "escalate"
    if clock.remind_at is not None and now >= clock.remind_at and clock.reminded_rung < clock.rung:
        return "remind"
    return None


def next_due(clock: GateClock) -> datetime | None:
    """When the sweep must next look at a gate: its pending reminder, else its deadline while rungs remain."""
    if clock.remind_at is not None and clock.reminded_rung < clock.rung and clock.remind_at < clock.deadline_at:
        return clock.remind_at
    if clock.rung < clock.ladder_length:
        return clock.deadline_at
    return None


def rung_deadline(now: datetime, amount: float, unit: str, calendar: Calendar) -> datetime:
    """The deadline of the rung an escalation lands on."""
    return calendar.add(now, amount, unit)
