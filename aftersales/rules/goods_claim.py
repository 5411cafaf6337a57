"""From a goods request and what the returns group verified to the rule set's `Claim` (三包, F1:312-318)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from aftersales.rules.eligibility import GROUNDS, Claim, Decision, Kind, Profile, Reason

DEFECT_REASONS = ("defect", "still_failing")


class ProofFacts(Protocol):
    """One proof the request carries (models/goods.py Proof)."""

    @property
    def kind(self) -> str: ...


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

    @property
    def proofs(self) -> Sequence[ProofFacts]: ...


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


PROOF_NAMES = {"purchase_voucher": "a purchase voucher", "photo": "photos of the problem",
               "delivery_confirmation": "the delivery confirmation slip", "invoice": "the invoice or receipt"}


def required_proofs(reason: str, profile: Profile) -> list[tuple[str, str]]:
    """The proofs the profile requires for this reason, each with why: (proof kind, what it is and its line).

    Data of the profile (eligibility-profiles.yaml `required_proofs`): the grocery profile asks for photos
    (F1:318 三), the default one (F1-S17) only for the purchase voucher (F1:316(3)).
    """
    return [(need.kind, f"{PROOF_NAMES[need.kind]} is required ({need.source})")
            for need in profile.required_proofs if need.applies(reason)]


def missing_proofs(goods: GoodsFacts, profile: Profile) -> list[tuple[str, str]]:
    """The required proofs the request does not carry, each with why."""
    carried = {proof.kind for proof in goods.proofs}
    return [(kind, why) for kind, why in required_proofs(goods.reason, profile) if kind not in carried]


def receipt_refusals(*, received: bool, intact: bool) -> Decision:
    """Whether the refund may go ahead once the goods should be back (F1:316(9)); a refusal carries its reasons."""
    refusals: list[Reason] = []
    if not received:
        refusals.append(_NOT_RETURNED)
    elif not intact:
        ground = GROUNDS["returned_goods_not_intact"]
        refusals.append(Reason("returned_goods_not_intact", ground.text_en, ground.text_zh, ground.source))
    return Decision(eligible=not refusals, offered=(), refusals=tuple(refusals))


# F1:318 "退货需同时退回问题货品含赠品…"; F1:316(9) speaks of the goods the consumer sends back: no goods, no refund.
_NOT_RETURNED = Reason(
    "goods_not_returned",
    "The goods have not been sent back; a refund is paid only for goods returned intact.",
    "退货商品尚未退回;退款须在商品完好退回后办理。",
    "F1:316(9), F1:318",
)


def claim_from_review(kind: Kind, goods: GoodsFacts, requested_at: datetime, review: ReviewFindings,
                      history: dict[str, int], quality_no_defect: bool | None,
                      profile: Profile | None = None) -> Claim:
    """The rule set's view of the request: what the customer sent plus what staff verified.

    A return or exchange under 三包 is inside the warranty by definition of its window (三包 ¶1-2), and the
    reviewer's `voucher_valid` already covers a forged voucher (F1:316(3)): the group checks both at once.
    With the profile, the other proofs it requires and the request lacks become `missing_proofs` (a refusal
    ground where the profile lists it); the voucher stays the reviewer's judgement.
    """
    lacking = [k for k, _ in missing_proofs(goods, profile)] if profile is not None else []
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
        missing_proofs=tuple(k for k in lacking if k != "purchase_voucher"),
    )
