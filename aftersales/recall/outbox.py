"""A recall's affected units and its outbox: found by batch/lot and serial range, written in bulk, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Table, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from aftersales.runtime import clock
from aftersales.runtime.db import get_engine
from models.recall import ProductUnit, RecallNotice, RecallUnit

CHUNK = 1000

UNITS: Table = ProductUnit.__table__  # type: ignore[attr-defined]
NOTICES: Table = RecallNotice.__table__  # type: ignore[attr-defined]
RECALL_UNITS: Table = RecallUnit.__table__  # type: ignore[attr-defined]


class UnitSelection(BaseModel):
    """Which registered units a recall affects: batches/lots, a serial range, or both (either matches).

    A serial range compares serials as text and only among serials as long as its bounds, so that
    SN-1000 does not fall between SN-00001 and SN-00500.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_model: str | None = Field(default=None, max_length=80)
    batches: list[str] = Field(default_factory=list, max_length=1000)
    serial_from: str | None = Field(default=None, max_length=80)
    serial_to: str | None = Field(default=None, max_length=80)

    @model_validator(mode="after")
    def _something_selected(self) -> UnitSelection:
        if (self.serial_from is None) != (self.serial_to is None):
            raise ValueError("a serial range needs both serial_from and serial_to")
        if self.serial_from is not None and self.serial_to is not None:
            if len(self.serial_from) != len(self.serial_to) or self.serial_from > self.serial_to:
                raise ValueError("serial_from and serial_to must have the same length, serial_from first")
        if not self.batches and self.serial_from is None:
            raise ValueError("name at least one batch/lot or a serial range")
        return self

    def where(self) -> Any:
        """The SQL condition on product_units."""
        parts: list[Any] = []
        if self.batches:
            parts.append(UNITS.c.batch.in_(self.batches))
        if self.serial_from is not None and self.serial_to is not None:
            parts.append(and_(func.length(UNITS.c.serial) == len(self.serial_from),
                              UNITS.c.serial.between(self.serial_from, self.serial_to)))
        condition = or_(*parts)
        return and_(UNITS.c.product_model == self.product_model, condition) if self.product_model else condition


@dataclass(frozen=True)
class Outbox:
    """What build_outbox found: units affected, customers to notify, and of those how many lack an address."""

    units: int
    customers: int
    without_address: int


def _insert(conn: Connection) -> Any:
    return sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert


def build_outbox(recall: str, selection: UnitSelection) -> Outbox:
    """Record the affected units and one notice per customer, in one transaction; running it again adds only
    units registered since (a notice already built keeps its state; its unit count follows)."""
    with get_engine().begin() as conn:
        insert = _insert(conn)
        rows = conn.execute(select(UNITS.c.serial, UNITS.c.batch, UNITS.c.customer_ref)
                            .where(selection.where()).order_by(UNITS.c.serial)).all()
        for start in range(0, len(rows), CHUNK):
            values = [{"recall": recall, "serial": s, "batch": b, "customer_ref": c, "remedy_state": "none"}
                      for s, b, c in rows[start:start + CHUNK]]
            conn.execute(insert(RECALL_UNITS).values(values).on_conflict_do_nothing(
                index_elements=["recall", "serial"]))
        # One notice per customer, with the contact data of their units (the first with an address).
        per_customer = conn.execute(
            select(UNITS.c.customer_ref, func.max(UNITS.c.customer_name), func.max(UNITS.c.customer_email),
                   func.max(UNITS.c.language), func.count())
            .join(RECALL_UNITS, and_(RECALL_UNITS.c.serial == UNITS.c.serial, RECALL_UNITS.c.recall == recall))
            .group_by(UNITS.c.customer_ref).order_by(UNITS.c.customer_ref)).all()
        without = 0
        now = clock.now()
        for start in range(0, len(per_customer), CHUNK):
            values = []
            for ref, name, email, language, count in per_customer[start:start + CHUNK]:
                without += email is None
                values.append({"recall": recall, "customer_ref": ref, "name": name or "", "email": email,
                               "language": language or "zh", "units": count, "attempts": 0,
                               "status": "pending" if email else "no_address", "created_at": now})
            stmt = insert(NOTICES).values(values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["recall", "customer_ref"],
                                                    set_={"units": stmt.excluded.units}))
        units = conn.execute(select(func.count()).select_from(RECALL_UNITS)
                             .where(RECALL_UNITS.c.recall == recall)).scalar_one()
    return Outbox(units=units, customers=len(per_customer), without_address=without)


def serials_by_customer(conn: Connection, recall: str, refs: list[str]) -> dict[str, list[str]]:
    """The affected serials of each of these customers."""
    found: dict[str, list[str]] = {}
    rows = conn.execute(select(RECALL_UNITS.c.customer_ref, RECALL_UNITS.c.serial)
                        .where(RECALL_UNITS.c.recall == recall, RECALL_UNITS.c.customer_ref.in_(refs))
                        .order_by(RECALL_UNITS.c.serial))
    for ref, serial in rows:
        found.setdefault(ref, []).append(serial)
    return found
