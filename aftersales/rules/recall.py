"""Pure recall rules: a unit's state in the ledger, completion, and a class's notification deadline by market."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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
