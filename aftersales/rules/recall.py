"""Pure recall rules: a unit's state in the ledger, completion, and a class's notification deadline by market."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

# The ledger's states, in the order a unit passes them.
STATES = ("not_notified", "notified", "acknowledged", "remedied", "closed")


def unit_state(notice_status: str | None, acknowledged: bool, remedy_state: str) -> str:
    """Where one affected unit stands: its remedy first, then what its customer's notice reached."""
    if remedy_state == "closed":
        return "closed"
    if remedy_state == "remedied":
        return "remedied"
    if acknowledged:
        return "acknowledged"
    if notice_status == "sent":
        return "notified"
    return "not_notified"


@dataclass
class Tally:
    """Units per state, with the share of each and the completion (closed) percentage."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, state: str) -> float:
        return round(100.0 * self.counts[state] / self.total, 1) if self.total else 0.0

    @property
    def completion(self) -> float:
        """Closed units over all affected units, in percent."""
        return self.share("closed")

    def reached(self, state: str) -> int:
        """Units at this state or beyond it (e.g. notified: notified, acknowledged, remedied or closed)."""
        return sum(self.counts[s] for s in STATES[STATES.index(state):])


def tally(rows: Iterable[tuple[str, str | None, bool, str, int]]) -> tuple[Tally, dict[str, Tally]]:
    """The whole recall and each batch, from (batch, notice status, acknowledged, remedy state, units) rows."""
    whole = Tally()
    by_batch: dict[str, Tally] = {}
    for batch, status, acknowledged, remedy_state, units in rows:
        state = unit_state(status, acknowledged, remedy_state)
        whole.counts[state] += units
        by_batch.setdefault(batch, Tally()).counts[state] += units
    return whole, dict(sorted(by_batch.items()))


def ack_wait_over(acknowledged: int, notified: int, threshold_percent: float, at: datetime,
                  until: datetime | None) -> str | None:
    """Why a recall's acknowledgement wait ends now (None: it goes on): the share reached, or its time up."""
    if notified and 100.0 * acknowledged / notified >= threshold_percent:
        return f"{threshold_percent:g}% acknowledged"
    if until is not None and at >= until:
        return "time up"
    return None


def clock_stage(start: datetime, end: datetime, at: datetime) -> str | None:
    """A regulatory clock's stage at `at`: 'breached' from its end, 'reminder' from half-time ([CHOICE]), else
    None."""
    if at >= end:
        return "breached"
    if at >= start + (end - start) / 2:
        return "reminder"
    return None


def periods_elapsed(start: datetime, at: datetime, step: Callable[[datetime], datetime], cap: int = 10_000) -> int:
    """How many whole periods (each `step` on from the last) have ended between start and at."""
    count, edge = 0, step(start)
    while edge <= at and count < cap:
        count += 1
        edge = step(edge)
    return count
