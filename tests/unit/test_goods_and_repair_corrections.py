"""Rule corrections with their lines: proofs per profile (F1:316(3), F1:318 三), no refund for goods not back
intact (F1:316(9)), the spare unit (004:355), the follow-up visit window (F2:79, F2:60) and low scores
(F2:283-284)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aftersales.config.policy import load_policy
from aftersales.rules.eligibility import decide, load_profiles
from aftersales.rules.goods_claim import claim_from_review, missing_proofs, receipt_refusals, required_proofs
from aftersales.rules.repair import visit_window
from aftersales.rules.satisfaction import is_low_score

ROOT = Path(__file__).resolve().parents[2]
PROFILES = load_profiles(ROOT / "eligibility-profiles.yaml")
POLICY = load_policy(ROOT / "policy.yaml")
POLICY_TEXT = (ROOT / "policy.yaml").read_text(encoding="utf-8")
CST = timezone(timedelta(hours=8))


def goods(reason: str = "defect", proofs: tuple[str, ...] = (), category: str = "durable") -> Any:
    return SimpleNamespace(delivered_on=date(2026, 3, 1), reason=reason, goods_category=category,
                           signed_at=None, returns_on_this_order=0,
                           proofs=[SimpleNamespace(kind=k) for k in proofs])


def review(**found: bool) -> Any:
    values = {"voucher_valid": True, "packaging_complete": True, "unused": True, "quality_problem": True,
              "man_made_damage": False, "labels_tampered": False, "force_majeure": False,
              "transit_damage_not_refused": False, "not_intact": False}
    return SimpleNamespace(**{**values, **found})


# ---- item 2: the proofs are the profile's data --------------------------------------------------------------


def test_the_default_profile_asks_only_for_the_purchase_voucher_F1_316_3_and_no_photos_F1_S17() -> None:
    assert [kind for kind, _ in required_proofs("defect", PROFILES["default"])] == ["purchase_voucher"]
    assert "F1:316(3)" in required_proofs("defect", PROFILES["default"])[0][1]


@pytest.mark.parametrize("reason", ["defect", "not_as_described", "transit_damage"])
def test_the_grocery_profile_asks_for_the_voucher_and_photos_F1_318_三(reason: str) -> None:
    needed = required_proofs(reason, PROFILES["grocery"])
    assert [kind for kind, _ in needed] == ["purchase_voucher", "photo"]
    assert all("F1:318 三" in why for _, why in needed)


def test_only_the_proofs_a_request_lacks_are_missing() -> None:
    grocery = PROFILES["grocery"]
    assert [k for k, _ in missing_proofs(goods(proofs=("purchase_voucher",), category="non_fresh"), grocery)] == [
        "photo"]
    assert missing_proofs(goods(proofs=("purchase_voucher", "photo"), category="non_fresh"), grocery) == []
    assert missing_proofs(goods(proofs=("purchase_voucher",)), PROFILES["default"]) == []


def test_a_grocery_request_without_photos_is_refused_with_F1_318_and_can_go_to_the_refusal_review() -> None:
    requested = datetime(2026, 3, 1, 11, 0, tzinfo=CST)
    claim = claim_from_review("return", goods(proofs=("purchase_voucher",), category="non_fresh"), requested,
                              review(), {"exchanges": 0, "repairs": 0}, None, PROFILES["grocery"])
    decision = decide(claim, PROFILES["grocery"])
    assert not decision.eligible
    assert [(r.code, r.source) for r in decision.refusals] == [("required_proofs_missing", "F1:318")]


def test_a_default_request_without_photos_is_not_refused_for_them_F1_S17() -> None:
    requested = datetime(2026, 3, 3, 11, 0, tzinfo=CST)
    claim = claim_from_review("exchange", goods(proofs=("purchase_voucher",)), requested, review(),
                              {"exchanges": 0, "repairs": 0}, False, PROFILES["default"])
    assert claim.missing_proofs == ()
    assert decide(claim, PROFILES["default"]).eligible


def test_a_voucher_shown_at_the_review_counts_even_if_not_attached_F1_316_3() -> None:
    requested = datetime(2026, 3, 3, 11, 0, tzinfo=CST)
    claim = claim_from_review("exchange", goods(proofs=()), requested, review(voucher_valid=True),
                              {"exchanges": 0, "repairs": 0}, False, PROFILES["default"])
    assert claim.has_purchase_voucher and claim.missing_proofs == ()


def test_the_policy_registers_requests_missing_a_proof_for_the_refusal_review_F1_316() -> None:
    assert POLICY.returns is not None and POLICY.returns.missing_proofs == "review"
    assert '"公司均有权拒绝"' in POLICY_TEXT and "将可能导致无法进行退换货" in POLICY_TEXT


# ---- item 1: no refund for goods not received or not intact ---------------------------------------------------


def test_goods_received_intact_may_be_refunded() -> None:
    assert receipt_refusals(received=True, intact=True).eligible


def test_goods_back_but_not_intact_are_refused_under_F1_316_9() -> None:
    decision = receipt_refusals(received=True, intact=False)
    assert not decision.eligible
    assert [(r.code, r.source) for r in decision.refusals] == [("returned_goods_not_intact", "F1:316(9)")]
    assert all(r.text_zh and r.text_en for r in decision.refusals)


def test_goods_not_received_are_refused_before_any_refund_F1_316_9_F1_318() -> None:
    decision = receipt_refusals(received=False, intact=True)
    assert [(r.code, r.source) for r in decision.refusals] == [("goods_not_returned", "F1:316(9), F1:318")]


# ---- item 3 and 5: the spare unit (004:355) --------------------------------------------------------------------


def test_the_spare_unit_is_asked_after_12_hours_and_lent_within_24_hours_of_the_report_004_355() -> None:
    sla = POLICY.repair.sla
    assert (sla["spare_unit_after"].amount, sla["spare_unit_after"].unit) == (12, "natural_hours")
    assert (sla["spare_unit_provided"].amount, sla["spare_unit_provided"].unit) == (24, "natural_hours")
    assert POLICY.gate("repair.spare_unit").role == "service_engineer"
    lines = [line for line in POLICY_TEXT.splitlines() if "spare_unit_after:" in line or "spare_unit_provided:" in line]
    assert all("004:355" in line and "PRODUCT.md" not in line for line in lines)


# ---- item 4 and 5: the follow-up visit --------------------------------------------------------------------------


def test_the_visit_opens_5_days_and_is_due_7_days_after_hand_over_F2_79_with_the_figures_of_F2_60() -> None:
    handed_over = datetime(2026, 11, 25, 15, 30, tzinfo=CST)
    window = POLICY.repair.follow_up_visit_days
    assert visit_window(handed_over, window.earliest, window.latest) == (
        datetime(2026, 11, 30, 15, 30, tzinfo=CST), datetime(2026, 12, 2, 15, 30, tzinfo=CST))


def test_a_visit_window_that_closes_before_it_opens_is_an_error() -> None:
    with pytest.raises(ValueError):
        visit_window(datetime(2026, 1, 1, tzinfo=CST), 7, 5)


def test_the_visit_window_cites_the_repair_revisit_line_not_only_the_car_buyers_call() -> None:
    line = next(line for line in POLICY_TEXT.splitlines() if line.strip().startswith("follow_up_visit_days:"))
    assert "F2:79" in line and "[CHOICE]" in line


# ---- item 6: a low score gets an owner (F2:283-284) ---------------------------------------------------------------


@pytest.mark.parametrize(("score", "low"), [(1, True), (2, True), (3, False), (5, False)])
def test_a_score_of_2_or_less_of_5_calls_for_an_improvement_F2_283_284(score: int, low: bool) -> None:
    assert POLICY.repair.low_satisfaction_at_most == 2
    assert POLICY.returns is not None and POLICY.returns.low_satisfaction_at_most == 2
    assert is_low_score(score, 2) is low


def test_no_threshold_means_no_follow_up_and_a_score_outside_1_to_5_is_an_error() -> None:
    assert not is_low_score(1, None)
    with pytest.raises(ValueError):
        is_low_score(0, 2)


def test_the_low_score_follow_up_belongs_to_the_after_sales_supervisor_and_escalates() -> None:
    for kind in ("repair.low_satisfaction", "returns.low_satisfaction"):
        assert POLICY.gate(kind).role == "after_sales_supervisor"
        assert POLICY.ladder(kind)
