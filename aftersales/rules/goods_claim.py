"""From a goods request and what the returns group verified to the rule set's `Claim` (三包, F1:312-318)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from aftersales.rules.eligibility import Claim, Kind

DEFECT_REASONS = ("defect", "still_failing")
# Reasons whose problem must be shown by photos (F1:318 三、: 提供相关图片).
PHOTO_REASONS = ("defect", "transit_damage", "still_failing")


class GoodsFacts(Protocol):
    """What the customer stated (models/goods.py GoodsClaim)."""

    @property
    def delivered_on(self) -> date: ...

    @property
    def reason(self) -> str: ...

    @property
    def goods_category(self) -> str: ...

    @property
    def signed_at(self) -> datetime | None: ...

    @property
    def returns_on_this_order(self) -> int: ...


class ReviewFindings(Protocol):
    """What the returns group verified (models/inputs.py GoodsReviewInput)."""

    @property
    def voucher_valid(self) -> bool: ...

    @property
    def packaging_complete(self) -> bool: ...

    @property
    def unused(self) -> bool: ...

    @property
    def quality_problem(self) -> bool: ...

    @property
    def man_made_damage(self) -> bool: ...

    @property
    def labels_tampered(self) -> bool: ...

    @property
    def force_majeure(self) -> bool: ...

    @property
    def transit_damage_not_refused(self) -> bool: ...

    @property
    def not_intact(self) -> bool: ...


def required_proofs(reason: str) -> list[tuple[str, str]]:
    """The proofs a request must carry at intake, each with why: (proof kind, reason with its line)."""
    needed = [("purchase_voucher", "a purchase voucher is required (F1:316(3))")]
    if reason in PHOTO_REASONS:
        needed.append(("photo", "photos of the problem are required (F1:318 三、)"))
    return needed


def claim_from_review(kind: Kind, goods: GoodsFacts, requested_at: datetime, review: ReviewFindings,
                      history: dict[str, int], quality_no_defect: bool | None) -> Claim:
    """The rule set's view of the request: what the customer sent plus what staff verified.

    A return or exchange under 三包 is inside the warranty by definition of its window (三包 ¶1-2), and the
    reviewer's `voucher_valid` already covers a forged voucher (F1:316(3)): the group checks both at once.
    """
    defect = goods.reason in DEFECT_REASONS or review.quality_problem
    signed_at = goods.signed_at
    return Claim(
        kind=kind,
        delivered_on=goods.delivered_on,
        requested_on=requested_at.date(),
        in_warranty=True,
        unused=review.unused,
        manufacturing_defect=defect and review.unused,
        non_man_made_quality_problem=defect,
        not_as_described=goods.reason == "not_as_described",
        transit_damage_found_at_delivery=goods.reason == "transit_damage" and not review.transit_damage_not_refused,
        packaging_complete=review.packaging_complete,
        man_made_damage=review.man_made_damage,
        labels_tampered=review.labels_tampered,
        force_majeure=review.force_majeure,
        damaged_in_transit_not_refused_on_delivery=review.transit_damage_not_refused,
        quality_dept_found_no_defect=quality_no_defect,
        consumer_returned_goods_not_intact=review.not_intact,
        has_purchase_voucher=review.voucher_valid,
        voucher_forged=False,
        previous_exchanges=history["exchanges"],
        in_warranty_repairs_same_serial=history["repairs"],
        still_failing=goods.reason == "still_failing",
        goods_category=goods.goods_category,  # type: ignore[arg-type]
        signed_at=signed_at,
        requested_at=requested_at if signed_at is not None else None,
        returns_on_this_order=goods.returns_on_this_order,
    )
