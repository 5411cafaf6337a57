"""Typed facts of a return or exchange (spec §3.5, F1:316, F1:318): the request block `goods`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import field_validator, model_validator
from sqlmodel import Field, SQLModel

from models.types import aware_past_moment, plausible_date

ProofKind = Literal["purchase_voucher", "photo", "delivery_confirmation", "invoice"]


class Proof(SQLModel):
    """A piece of evidence, by reference (a file id or URL in the company's document store)."""

    kind: ProofKind
    ref: str = Field(min_length=1, max_length=500)


class GoodsClaim(SQLModel):
    """A return or exchange request: delivery, order, reason and proof (spec §3.5 step 2, F1:316, F1:318)."""

    delivered_on: date
    order_number: str = Field(min_length=1, max_length=60)
    quantity: int = Field(default=1, ge=1, le=10_000)
    reason: Literal["defect", "no_reason", "not_as_described", "transit_damage", "still_failing"]
    unused: bool = False
    packaging_complete: bool = True
    proofs: list[Proof] = Field(default_factory=list)
    goods_category: Literal["durable", "fresh", "non_fresh"] = "durable"  # F1:318 grocery profile
    signed_at: datetime | None = Field(default=None, description="When the delivery was signed for (F1:318)")
    returns_on_this_order: int = Field(default=0, ge=0, description="Earlier returns on the order (F1:318)")

    @field_validator("delivered_on")
    @classmethod
    def _delivered_in_the_past(cls, value: date) -> date:
        return plausible_date(value, "delivery date")  # type: ignore[return-value]

    @field_validator("signed_at")
    @classmethod
    def _signed_at_aware_and_past(cls, value: datetime | None) -> datetime | None:
        return aware_past_moment(value, "signed_at")

    @model_validator(mode="after")
    def _signed_on_or_after_delivery(self) -> GoodsClaim:
        # Compared in the signer's own time zone: the day written on the delivery note.
        if self.signed_at is not None and self.signed_at.date() < self.delivered_on:
            raise ValueError("signed_at lies before delivered_on")
        return self
