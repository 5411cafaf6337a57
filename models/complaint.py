"""Typed facts of a complaint (客户抱怨处理表, 004:461): the request block `complaint`."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import model_validator
from sqlmodel import Field, SQLModel

from models.types import plausible_date

ComplaintCategory = Literal[
    "quality_safety", "consumer_rights", "major_service_error", "serious_grievance",  # F1:200-202, 004:407
    # 004:419-429
    "non_quality", "staff_neglect", "staff_attitude", "slow_return_repair", "repair_price", "repair_quality",
    "product_quality", "other",
]


class ComplaintDetails(SQLModel):
    """The fields of 客户抱怨处理表 (004:461) beyond the registration fields."""

    category: ComplaintCategory
    customer_demand: str = Field(min_length=1, max_length=2000, description="What the customer asks for")
    order_number: str | None = Field(default=None, max_length=60)
    ship_date: date | None = None
    quantity: int | None = Field(default=None, ge=0)
    defective_quantity: int | None = Field(default=None, ge=0)
    overseas: bool = Field(default=False, description="Overseas customer: 7-day closing limit (004:485)")

    @model_validator(mode="after")
    def _defects_within_quantity(self) -> ComplaintDetails:
        counted = self.quantity is not None and self.defective_quantity is not None
        if counted and self.defective_quantity > self.quantity:  # type: ignore[operator]
            raise ValueError("defective_quantity cannot exceed quantity")
        plausible_date(self.ship_date, "ship_date")
        return self
