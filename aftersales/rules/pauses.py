"""Case clocks that stop while the case waits on the customer, decided from times alone.

A clock runs from its start to its deadline. A pause (a gate assigned to the customer, from its opening to its
answer) stops it: when the customer answers, the clock resumes with the time it had left, so its deadline moves
later by the paused time, measured as the clock counts (working time for working hours/days, elapsed time for
natural hours/days). Pauses that overlap count once; time before the clock started or paused twice does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


class Calendar(Protocol):
    """What these rules need of the business calendar."""

    def working_time_between(self, a: datetime, b: datetime) -> timedelta: ...
    def add_working_hours(self, start: datetime, hours: float) -> datetime: ...


@dataclass(frozen=True)
class Pause:
    """The case waited on the customer from `start` until `end` (None: still waiting)."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class ClockState:
    """A case clock at one moment: its deadline moved by the paused time so far, and where it stands."""

    started_at: datetime
    base_deadline: datetime  # the deadline without pauses
    deadline: datetime  # moved later by every pause so far (an open pause counted up to now)
    paused: timedelta  # paused time so far, as the clock counts
    paused_since: datetime | None  # set while the clock stands still
    remaining: timedelta  # time left as the clock counts; negative once overdue (frozen while paused)

    @property
    def is_paused(self) -> bool:
        """True while the case waits on the customer."""
        return self.paused_since is not None

    @property
    def overdue(self) -> bool:
        """The clock ran out (a paused clock never runs out while paused)."""
        return self.remaining <= timedelta(0) and not self.is_paused


def working_measure(unit: str) -> bool:
    """Whether a clock of this unit counts working time (else elapsed time)."""
    return unit.startswith("working_")


def merged(pauses: Iterable[Pause], start: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """The pauses as disjoint intervals inside [start, now], in order (an open pause ends now)."""
    spans = sorted((max(p.start, start), min(p.end or now, now)) for p in pauses)
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in spans:
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def measure(a: datetime, b: datetime, *, working: bool, calendar: Calendar) -> timedelta:
    """Time from a to b as the clock counts it (zero when b <= a)."""
    if b <= a:
        return timedelta(0)
    return calendar.working_time_between(a, b) if working else b - a


def clock_state(*, started_at: datetime, base_deadline: datetime, unit: str, pauses: Iterable[Pause],
                now: datetime, calendar: Calendar) -> ClockState:
    """Where a case clock stands at `now`, its deadline moved later by the time it stood still."""
    working = working_measure(unit)
    spans = merged(pauses, started_at, now)
    paused = sum((measure(lo, hi, working=working, calendar=calendar) for lo, hi in spans), timedelta(0))
    if not paused:
        deadline = base_deadline
    elif working:
        deadline = calendar.add_working_hours(base_deadline, paused.total_seconds() / 3600)
    else:
        deadline = base_deadline + paused
    open_pause = [p for p in pauses if p.end is None and p.start <= now]
    paused_since = max((lo for lo, hi in spans if hi == now), default=None) if open_pause else None
    # The deadline already holds the open pause up to now, so the time left reads the same all through a pause.
    if now < deadline:
        remaining = measure(now, deadline, working=working, calendar=calendar)
    else:
        remaining = -measure(deadline, now, working=working, calendar=calendar)
    return ClockState(started_at=started_at, base_deadline=base_deadline, deadline=deadline, paused=paused,
                      paused_since=paused_since, remaining=remaining)
