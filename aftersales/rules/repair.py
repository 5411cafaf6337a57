"""Repair decisions: which approvals a fee needs, where the repair happens, when to visit after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RepairMode = Literal["on_site", "send_in", "factory_return"]
Approval = Literal["finance_audit", "gm_free_repair", "quote_confirmation"]


@dataclass(frozen=True)
class FeeRoute:
    """The approvals a repair plan must pass before work starts, in order."""

    approvals: tuple[Approval, ...]
    reason: str


def fee_route(
    *,
    customer_responsibility: bool,
    fee: float,
    fee_needs_finance_audit: bool,
    free_repair_needs_gm: bool,
) -> FeeRoute:
    """Who must agree to the plan: finance and the customer for a paid repair, the GM for a free one."""
    if fee < 0:
        raise ValueError("a fee cannot be negative")
    if not customer_responsibility:
        return FeeRoute((), "covered by warranty: free repair, no approval needed (F1:38)")
    if fee == 0:
        approvals: tuple[Approval, ...] = ("gm_free_repair",) if free_repair_needs_gm else ()
        return FeeRoute(approvals, "customer's responsibility but free: GM confirms (F2:433)")
    paid: tuple[Approval, ...] = ("quote_confirmation",)
    if fee_needs_finance_audit:
        paid = ("finance_audit", *paid)
    return FeeRoute(paid, "customer's responsibility: finance audits the fee, the customer confirms (F2:428-429)")
