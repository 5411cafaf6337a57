"""The product-unit register (units sold) and a recall's outbox and affected units."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class ProductUnit(SQLModel, table=True):
    """One unit sold, from the company's sales records (004:251-253: kept for the service life plus a year).

    The customer's contact data lives here, in the project database only: flows, Prefect parameters and
    artifacts carry serials and counts, never names or addresses (000:69).
    """

    __tablename__ = "product_units"

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=80, unique=True, index=True)
    batch: str = Field(max_length=80, index=True, description="Batch or lot number.")
    product_model: str = Field(max_length=80, index=True)
    customer_ref: str = Field(max_length=80, index=True, description="The customer's id in the sales records.")
    customer_name: str = Field(default="", max_length=120)
    customer_email: str | None = Field(default=None, max_length=200)
    customer_phone: str | None = Field(default=None, max_length=40)
    language: str = Field(default="zh", max_length=5)
    sale_date: date
    source: str = Field(max_length=200, description="The file (or case) the row came from.")
    last_case: str | None = Field(default=None, max_length=40, description="The latest case about this unit.")
    remedy_state: str | None = Field(default=None, max_length=20, description="Set by a recall: its remedy's state.")
    imported_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RecallNotice(SQLModel, table=True):
    """The outbox: one notice per recall and customer, claimed, sent, acknowledged (aftersales.recall.fanout)."""

    __tablename__ = "recall_notices"
    __table_args__ = (
        UniqueConstraint("recall", "customer_ref", name="uq_recall_notice_customer"),
        Index("ix_recall_notices_recall_status", "recall", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    recall: str = Field(max_length=40)
    customer_ref: str = Field(max_length=80)
    # A copy of the contact data taken when the outbox is built: a later import changes no notice in flight.
    name: str = Field(default="", max_length=120)
    email: str | None = Field(default=None, max_length=200)
    language: str = Field(default="zh", max_length=5)
    units: int = Field(default=0, description="How many of this customer's units the recall affects.")
    status: str = Field(default="pending", max_length=20,
                        description="pending, claimed, sending, sent, failed, uncertain, no_address")
    claim: str | None = Field(default=None, max_length=40, description="Which sender holds the row.")
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RecallUnit(SQLModel, table=True):
    """One unit a recall affects, with its remedy (repair, exchange, return) and the child case doing it."""

    __tablename__ = "recall_units"
    __table_args__ = (UniqueConstraint("recall", "serial", name="uq_recall_unit_serial"),)

    id: int | None = Field(default=None, primary_key=True)
    recall: str = Field(max_length=40, index=True)
    serial: str = Field(max_length=80)
    batch: str = Field(max_length=80)
    customer_ref: str = Field(max_length=80)
    remedy: str | None = Field(default=None, max_length=20, description="repair, exchange or return")
    remedy_state: str = Field(default="none", max_length=20, description="none, opened, remedied, closed")
    child_case: str | None = Field(default=None, max_length=40)
