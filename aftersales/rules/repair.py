"""Repair decisions: which approvals a fee needs, where the repair happens, when to visit after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

RepairMode = Literal["on_site", "send_in", "factory_return", "local_agency", "dispatch"]
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


def visit_window(handed_over: datetime, earliest_days: int, latest_days: int) -> tuple[datetime, datetime]:
    """When the follow-up visit opens and when it is due: natural days after the hand-over (policy.yaml
    repair.follow_up_visit_days; F2:79 "问题解决后的一定时间内", figures of F2:60 "5-7天内")."""
    if earliest_days > latest_days:
        raise ValueError("the visit cannot open after it is due")
    return handed_over + timedelta(days=earliest_days), handed_over + timedelta(days=latest_days)
