"""A recalled unit's remedy (repair, exchange, return) and its state, kept on the recall and on the register."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import update

from aftersales.errors import NotFound
from aftersales.recall.outbox import RECALL_UNITS, UNITS
from aftersales.runtime import clock
from aftersales.runtime.db import get_engine

Remedy = Literal["repair", "exchange", "return"]
RemedyState = Literal["opened", "remedied", "closed"]


def mark_remedy(recall: str, serial: str, state: RemedyState, *, remedy: Remedy | None = None,
                child_case: str | None = None) -> None:
    """Record where a unit's remedy stands (the ledger counts it) and note it on the registered unit."""
    values: dict[str, str] = {"remedy_state": state}
    if remedy is not None:
        values["remedy"] = remedy
    if child_case is not None:
        values["child_case"] = child_case
    with get_engine().begin() as conn:
        found = conn.execute(update(RECALL_UNITS).where(RECALL_UNITS.c.recall == recall,
                                                        RECALL_UNITS.c.serial == serial).values(**values)).rowcount
        if not found:
            raise NotFound(f"recall {recall!r} does not affect unit {serial!r}")
        unit_values: dict[str, object] = {"remedy_state": state, "updated_at": clock.now()}
        if child_case is not None:
            unit_values["last_case"] = child_case
        conn.execute(update(UNITS).where(UNITS.c.serial == serial).values(**unit_values))
