"""Typed facts of an off-site repair dispatch (WI 5.1-5.8, 002:400-477): the request block `dispatch`."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

MaterialSource = Literal["stock", "local_purchase", "customer"]


class MaterialItem(BaseModel):
    """One item of the material the repair needs and where it comes from (5.5.2, 002:449-450)."""

    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(ge=1, le=100_000)
    source: MaterialSource = Field(description="company stock (备料清单 to PMC), bought there, or the customer's")
    ready_by: date | None = Field(default=None, description="When the customer must have it ready (002:450)")

    @model_validator(mode="after")
    def _customer_items_have_a_date(self) -> MaterialItem:
        if self.source == "customer" and self.ready_by is None:
            raise ValueError("material the customer supplies needs the ready_by date the customer is told (002:450)")
        return self


class DispatchDestination(BaseModel):
    """Where the team goes: overseas (5.5) or a domestic off-site repair (5.6); the dispatch's registration and the
    repair's "where to" step (models.inputs.DispatchFactsInput) share these fields and their rules."""

    overseas: bool = Field(description="Abroad (5.5); false: a domestic off-site repair (5.6), no visa branches")
    country: str = Field(default="CN", min_length=2, max_length=2, description="ISO 3166 country of the site")
    timezone: str = Field(default="Asia/Shanghai", max_length=60, description="IANA time zone of the site")
    site: str = Field(min_length=1, max_length=300, description="Where the equipment stands")
    visa_needs_invitation: bool = Field(default=False, description="The visa needs the customer's invitation (002:430)")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("a two-letter ISO 3166 country code")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("an IANA time zone such as Europe/Berlin") from exc
        return value

    @model_validator(mode="after")
    def _domestic_is_in_china(self) -> Self:
        if self.overseas == (self.country == "CN"):
            raise ValueError("overseas dispatches go abroad and domestic ones stay in CN")
        if not self.overseas and self.visa_needs_invitation:
            raise ValueError("a domestic dispatch needs no visa (5.6)")
        return self


class DispatchDetails(DispatchDestination):
    """Where the team goes and what it needs: overseas (5.5) or a domestic off-site repair (5.6)."""

    customer_responsibility: bool = Field(default=False, description="The customer's fault: a paid repair (002:428)")
    materials: list[MaterialItem] = Field(default_factory=list, max_length=50)
    from_case: str | None = Field(default=None, max_length=40, description="The repair or complaint case it serves")
