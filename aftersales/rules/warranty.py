"""Warranty and responsibility: who pays for a repair."""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

WarrantyOverride = Literal["auto", "in", "out"]


@dataclass(frozen=True)
class WarrantyDecision:
    """Whether a repair is covered, and why (each reason cites its source line)."""

    in_warranty: bool
    customer_responsibility: bool
    expires_on: date | None
    reasons: list[str] = field(default_factory=list)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clipped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, _cal.monthrange(year, month)[1]))


def decide_warranty(
    *,
    purchase_date: date | None,
    today: date,
    months: int,
    man_made_damage: bool,
    man_made_is_customer_responsibility: bool = True,
    override: WarrantyOverride = "auto",
) -> WarrantyDecision:
    """Decide coverage from the purchase date and damage; staff may override with a recorded reason."""
    reasons: list[str] = []
    expires_on = add_months(purchase_date, months) if purchase_date else None
    if override != "auto":
        covered = override == "in"
        reasons.append(f"staff decided {'in' if covered else 'out of'} warranty (F2:15)")
    elif purchase_date is None:
        covered = False
        reasons.append("no purchase date or voucher: warranty cannot be established (F1:8, F1:38)")
    elif today < expires_on:  # type: ignore[operator]
        covered = True
        reasons.append(f"purchased {purchase_date}, warranty of {months} months runs to {expires_on} (F1:19, F1:38)")
    else:
        covered = False
        reasons.append(f"warranty of {months} months ended {expires_on} (F1:19, F1:40)")
    customer_pays = not covered
    if man_made_damage and man_made_is_customer_responsibility:
        customer_pays = True
        if covered:
            reasons.append("man-made damage is the customer's responsibility (F1:8, F1:39, F1:316)")
        covered = False
    return WarrantyDecision(
        in_warranty=covered, customer_responsibility=customer_pays, expires_on=expires_on, reasons=reasons
    )
