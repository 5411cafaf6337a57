"""Return and exchange eligibility (F1:311-318, 三包): windows, conditions, refusal grounds, profiles."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from aftersales.errors import ConfigurationError
from aftersales.rules.eligibility import (
    CONDITIONS,
    GROUNDS,
    Claim,
    Decision,
    Profile,
    ProfileFileError,
    decide,
    load_profiles,
    warranty_start_after_exchange,
)

PROFILES_FILE = Path(__file__).resolve().parents[2] / "eligibility-profiles.yaml"
PROFILES = load_profiles(PROFILES_FILE)
DEFAULT = PROFILES["default"]
GROCERY = PROFILES["grocery"]
# The company's own F1:314 conditions, without the 三包 performance-fault floor, to test F1:314(1) alone.
COMPANY_ONLY = DEFAULT.model_copy(
    update={
        "return_conditions": tuple(c for c in DEFAULT.return_conditions if c != "performance_fault"),
        "exchange_conditions": tuple(c for c in DEFAULT.exchange_conditions if c != "performance_fault"),
    }
)

DELIVERED = date(2025, 3, 1)
CST = timezone(timedelta(hours=8))
SIGNED = datetime(2025, 3, 1, 10, 0, tzinfo=CST)
CJK = re.compile(r"[\u4e00-\u9fff]")
CITATION = re.compile(
    r"^(F1:\d+(\(\d\))?|regulations\.md 三包 ¶\d(-\d)?)(, (F1:\d+(\(\d\))?|regulations\.md 三包 ¶\d))*$"
)

CONFIRMED_DEFECT: dict[str, Any] = {"manufacturing_defect": True, "quality_dept_found_no_defect": False}
UNUSED_WITH_CONFIRMED_DEFECT: dict[str, Any] = {"unused": True, **CONFIRMED_DEFECT}
REPAIRED_TWICE: dict[str, Any] = {
    "in_warranty": True,
    "in_warranty_repairs_same_serial": 2,
    "still_failing": True,
    "quality_dept_found_no_defect": False,
}


def claim(kind: str = "return", day: int = 3, **facts: Any) -> Claim:
    """A claim `day` days after a 1 March delivery, with voucher and complete packaging unless told."""
    values: dict[str, Any] = {
        "kind": kind,
        "delivered_on": DELIVERED,
        "requested_on": DELIVERED + timedelta(days=day),
        "packaging_complete": True,
        "has_purchase_voucher": True,
    }
    values.update(facts)
    return Claim(**values)


def grocery_claim(category: str, after_signing: timedelta | None, kind: str = "return", **facts: Any) -> Claim:
    """A grocery claim raised `after_signing` after a 10:00 signature (None: not signed yet, at the door)."""
    requested_at = SIGNED + (after_signing or timedelta())
    values: dict[str, Any] = {
        "kind": kind,
        "goods_category": category,
        "delivered_on": SIGNED.date(),
        "requested_on": requested_at.date(),
        "requested_at": requested_at,
        "signed_at": None if after_signing is None else SIGNED,
        "packaging_complete": True,
        "has_purchase_voucher": True,
        "non_man_made_quality_problem": True,
    }
    values.update(facts)
    return Claim(**values)


def checked(c: Claim, profile: Profile = DEFAULT) -> Decision:
    """Decide, and check what every decision promises: one state, cited and bilingual reasons."""
    decision = decide(c, profile)
    assert [decision.eligible, bool(decision.refusals), bool(decision.needs)].count(True) == 1
    assert decision.eligible == (c.kind in decision.offered)
    assert decision.decided == (not decision.needs)
    assert len(set(decision.offered)) == len(decision.offered)
    for reason in decision.grants:
        assert reason.remedies and set(reason.remedies) <= set(decision.offered), reason
    for reason in decision.reasons:
        assert CITATION.match(reason.source), reason
        assert reason.text_en and not CJK.search(reason.text_en), reason
        assert CJK.search(reason.text_zh), reason
    return decision


def codes(reasons: tuple[Any, ...]) -> list[str]:
    return [reason.code for reason in reasons]


# ---- windows: natural days from the day after delivery (F1:312) --------------------------------


@pytest.mark.parametrize(
    ("kind", "delivered_on", "requested_on", "refusal"),
    [
        pytest.param(
            "return", date(2025, 3, 1), date(2025, 3, 1), None, id="a_return_asked_on_the_delivery_day_is_in_time"
        ),
        pytest.param(
            "return", date(2025, 3, 1), date(2025, 3, 8), None, id="a_return_on_the_seventh_day_8_march_is_allowed"
        ),
        pytest.param(
            "return",
            date(2025, 3, 1),
            date(2025, 3, 9),
            "outside_return_window",
            id="a_return_on_the_eighth_day_is_refused",
        ),
        pytest.param(
            "exchange", date(2025, 3, 1), date(2025, 3, 16), None, id="an_exchange_on_the_fifteenth_day_is_allowed"
        ),
        pytest.param(
            "exchange",
            date(2025, 3, 1),
            date(2025, 3, 17),
            "outside_exchange_window",
            id="an_exchange_on_the_sixteenth_day_is_refused",
        ),
        pytest.param("return", date(2024, 2, 25), date(2024, 3, 3), None, id="a_return_window_counts_29_february"),
        pytest.param(
            "return", date(2024, 2, 25), date(2024, 3, 4), "outside_return_window", id="a_leap_year_return_ends_3_march"
        ),
    ],
)
def test_windows_count_natural_days_from_the_day_after_delivery(kind, delivered_on, requested_on, refusal):
    c = Claim(
        kind=kind,
        delivered_on=delivered_on,
        requested_on=requested_on,
        packaging_complete=True,
        has_purchase_voucher=True,
        **UNUSED_WITH_CONFIRMED_DEFECT,
    )
    decision = checked(c)
    if refusal is None:
        assert decision.eligible
    else:
        assert not decision.eligible
        assert codes(decision.refusals) == [refusal]
        assert decision.refusals[0].source == "F1:312, F1:316(1)"
        assert str(delivered_on + timedelta(days=7 if kind == "return" else 15)) in decision.refusals[0].text_en


def test_the_refusal_tells_the_customer_the_last_day_in_chinese():
    decision = checked(claim(day=8, unused=True))
    assert (
        decision.refusals[0].text("zh")
        == "退货须在货物交付(2025-03-01)之次日起7天内(按自然日计算)提出,最后一天为2025-03-08。"
    )


# ---- the conditions that allow a return (F1:314) and an exchange (F1:315) -----------------------


@pytest.mark.parametrize(
    ("kind", "facts", "code", "source"),
    [
        pytest.param(
            "return",
            UNUSED_WITH_CONFIRMED_DEFECT,
            "unused_with_manufacturing_defect",
            "F1:314(1)",
            id="return_unused_goods_with_an_obvious_manufacturing_defect",
        ),
        pytest.param(
            "return",
            {"unused": True},
            "complete_and_resaleable",
            "F1:314(2)",
            id="return_complete_unused_goods_without_a_reason",
        ),
        pytest.param(
            "return",
            {"previous_exchanges": 1, "still_failing": True, "quality_dept_found_no_defect": False},
            "still_failing_after_one_exchange",
            "F1:314(3)",
            id="return_goods_still_failing_after_one_exchange",
        ),
        pytest.param(
            "return",
            {"non_man_made_quality_problem": True, "quality_dept_found_no_defect": False},
            "performance_fault",
            "regulations.md 三包 ¶1",
            id="return_used_goods_with_a_performance_fault_under_sanbao",
        ),
        pytest.param(
            "exchange",
            UNUSED_WITH_CONFIRMED_DEFECT,
            "unused_with_manufacturing_defect",
            "F1:315(1)",
            id="exchange_unused_goods_with_an_obvious_manufacturing_defect",
        ),
        pytest.param(
            "exchange",
            {"fails_to_start_per_manual": True, "quality_dept_found_no_defect": False},
            "fails_to_start_or_quality_defect",
            "F1:315(2)",
            id="exchange_a_product_that_does_not_start_per_the_manual",
        ),
        pytest.param(
            "exchange",
            {"non_man_made_quality_problem": True, "quality_dept_found_no_defect": False},
            "fails_to_start_or_quality_defect",
            "F1:315(2)",
            id="exchange_a_product_with_a_quality_defect_not_caused_by_use",
        ),
        pytest.param(
            "exchange",
            {"previous_exchanges": 1, "still_failing": True, "quality_dept_found_no_defect": False},
            "still_failing_after_one_exchange",
            "F1:315(3)",
            id="exchange_again_goods_still_failing_after_one_exchange",
        ),
        pytest.param(
            "exchange",
            {"transit_damage_found_at_delivery": True},
            "transit_damage_found_at_delivery",
            "F1:315(4)",
            id="exchange_goods_found_damaged_in_transport_in_front_of_the_delivery_person",
        ),
        pytest.param(
            "exchange",
            {"not_as_described": True},
            "differs_from_description",
            "F1:315(5)",
            id="exchange_goods_that_obviously_differ_from_their_description",
        ),
    ],
)
def test_each_condition_allows_its_kind_within_the_window(kind, facts, code, source):
    decision = checked(claim(kind, day=5 if kind == "return" else 12, **facts))
    assert decision.eligible
    granted = {reason.code: reason for reason in decision.grants if kind in reason.remedies}
    assert granted[code].source == source


@pytest.mark.parametrize(
    ("kind", "facts", "profile", "source"),
    [
        pytest.param("return", {}, DEFAULT, "F1:314, regulations.md 三包 ¶1", id="return_with_no_ground_at_all"),
        pytest.param(
            "return",
            {"unused": False, **CONFIRMED_DEFECT},
            COMPANY_ONLY,
            "F1:314",
            id="return_of_used_goods_with_a_defect_under_the_company_rule_alone",
        ),
        pytest.param(
            "return",
            {"previous_exchanges": 1, "quality_dept_found_no_defect": False},
            DEFAULT,
            "F1:314, regulations.md 三包 ¶1",
            id="return_after_an_exchange_that_fixed_the_fault",
        ),
        pytest.param(
            "return",
            {"still_failing": True, "quality_dept_found_no_defect": False},
            DEFAULT,
            "F1:314, regulations.md 三包 ¶1",
            id="return_still_failing_without_an_earlier_exchange",
        ),
        pytest.param(
            "exchange",
            {"unused": True},
            DEFAULT,
            "F1:315, regulations.md 三包 ¶2",
            id="exchange_of_sound_goods_without_a_reason",
        ),
    ],
)
def test_a_claim_meeting_no_condition_is_refused_citing_the_conditions(kind, facts, profile, source):
    decision = checked(claim(kind, **facts), profile)
    assert codes(decision.refusals) == [f"no_{kind}_condition_met"]
    assert decision.refusals[0].source == source


# ---- the nine refusal grounds (F1:316) --------------------------------------------------------

BOTH_KINDS_GROUNDS = [
    ("the_goods_are_incomplete", {"packaging_complete": False}, "incomplete_goods_or_packaging", "F1:316(2)"),
    ("the_appearance_is_soiled_by_use", {"man_made_soiling": True}, "incomplete_goods_or_packaging", "F1:316(2)"),
    ("there_is_no_purchase_voucher", {"has_purchase_voucher": False}, "no_purchase_voucher", "F1:316(3)"),
    ("the_voucher_is_forged", {"voucher_forged": True}, "voucher_forged_or_altered", "F1:316(3)"),
    ("the_damage_is_man_made", {"man_made_damage": True}, "man_made_damage", "F1:316(4)"),
    ("labels_or_serial_are_tampered", {"labels_tampered": True}, "labels_or_serial_tampered", "F1:316(5)"),
    ("force_majeure_caused_the_damage", {"force_majeure": True}, "force_majeure", "F1:316(6)"),
    (
        "the_returned_goods_are_not_intact",
        {"consumer_returned_goods_not_intact": True},
        "returned_goods_not_intact",
        "F1:316(9)",
    ),
]


@pytest.mark.parametrize(
    ("kind", "facts", "code", "source"),
    [
        pytest.param("return", {"day": 8}, "outside_return_window", "F1:312, F1:316(1)", id="return_after_seven_days"),
        pytest.param(
            "exchange", {"day": 16}, "outside_exchange_window", "F1:312, F1:316(1)", id="exchange_after_fifteen_days"
        ),
        *[
            pytest.param(kind, facts, code, source, id=f"{kind}_refused_when_{name}")
            for name, facts, code, source in BOTH_KINDS_GROUNDS
            for kind in ("return", "exchange")
        ],
        pytest.param(
            "return",
            {"damaged_in_transit_not_refused_on_delivery": True},
            "transit_damage_not_refused_on_delivery",
            "F1:316(7)",
            id="return_refused_when_transport_damage_was_not_sent_back_on_delivery",
        ),
        pytest.param(
            "exchange",
            {"quality_dept_found_no_defect": True},
            "quality_test_found_no_defect",
            "F1:316(8)",
            id="exchange_refused_when_the_quality_department_found_no_defect",
        ),
    ],
)
def test_each_refusal_ground_refuses_goods_that_would_otherwise_qualify(kind, facts, code, source):
    facts = dict(facts)
    day = facts.pop("day", 3)
    assert checked(claim(kind, day=3, **UNUSED_WITH_CONFIRMED_DEFECT)).eligible  # the same goods, without the ground
    decision = checked(claim(kind, day=day, **{**UNUSED_WITH_CONFIRMED_DEFECT, **facts}))
    assert not decision.eligible
    refusal = {reason.code: reason for reason in decision.refusals}[code]
    assert refusal.source == source
    assert refusal.text("en") != refusal.text("zh")


def test_transport_damage_not_sent_back_on_delivery_refuses_only_a_return():
    decision = checked(
        claim("exchange", damaged_in_transit_not_refused_on_delivery=True, **UNUSED_WITH_CONFIRMED_DEFECT)
    )
    assert decision.eligible


def test_a_no_defect_finding_does_not_refuse_an_exchange_of_goods_unlike_their_description():
    decision = checked(claim("exchange", day=10, not_as_described=True, quality_dept_found_no_defect=True))
    assert decision.eligible
    assert codes(decision.grants) == ["differs_from_description"]


def test_a_no_defect_finding_does_not_refuse_a_return_of_complete_unused_goods():
    decision = checked(claim(unused=True, manufacturing_defect=True, quality_dept_found_no_defect=True))
    assert decision.eligible
    assert codes(decision.grants) == ["complete_and_resaleable"]


def test_every_ground_that_applies_is_listed():
    decision = checked(claim(day=9, has_purchase_voucher=False, man_made_damage=True))
    assert codes(decision.refusals) == ["outside_return_window", "no_purchase_voucher", "man_made_damage"]


# ---- exchanged once and still failing (F1:314(3), F1:315(3)) -----------------------------------

STILL_FAILING_AFTER_EXCHANGE: dict[str, Any] = {
    "previous_exchanges": 1,
    "still_failing": True,
    "quality_dept_found_no_defect": False,
}


@pytest.mark.parametrize(
    ("kind", "day", "eligible", "offered"),
    [
        pytest.param("return", 5, True, ("return", "exchange", "repair"), id="a_return_within_seven_days_is_allowed"),
        pytest.param("exchange", 5, True, ("return", "exchange", "repair"), id="a_second_exchange_is_allowed_too"),
        pytest.param("exchange", 12, True, ("exchange", "repair"), id="an_exchange_on_day_twelve_is_allowed"),
        pytest.param(
            "return", 12, False, ("exchange", "repair"), id="a_return_on_day_twelve_is_refused_but_exchange_offered"
        ),
        pytest.param("exchange", 16, False, (), id="an_exchange_after_fifteen_days_is_refused"),
    ],
)
def test_goods_exchanged_once_and_still_failing(kind, day, eligible, offered):
    decision = checked(claim(kind, day=day, **STILL_FAILING_AFTER_EXCHANGE))
    assert decision.eligible is eligible
    assert decision.offered == offered
    if offered:
        assert "still_failing_after_one_exchange" in codes(decision.grants)


# ---- 三包: still failing after two repairs in warranty (regulations.md 三包 ¶3) -------------------


@pytest.mark.parametrize(
    ("kind", "day", "facts", "profile", "outcome"),
    [
        pytest.param("exchange", 200, {}, DEFAULT, "granted", id="exchange_after_the_windows_is_allowed"),
        pytest.param("return", 200, {}, DEFAULT, "granted", id="refund_after_the_windows_is_allowed"),
        pytest.param("return", 5, {}, DEFAULT, "granted", id="refund_inside_the_windows_is_allowed"),
        pytest.param(
            "exchange",
            200,
            {"in_warranty_repairs_same_serial": 3},
            DEFAULT,
            "granted",
            id="three_repairs_are_more_than_enough",
        ),
        pytest.param(
            "exchange",
            200,
            {"packaging_complete": False, "consumer_returned_goods_not_intact": True},
            DEFAULT,
            "granted",
            id="missing_packaging_does_not_bar_the_statutory_remedy",
        ),
        pytest.param(
            "exchange",
            200,
            {"in_warranty_repairs_same_serial": 1},
            DEFAULT,
            "outside_exchange_window",
            id="one_repair_is_not_enough",
        ),
        pytest.param("exchange", 200, {"in_warranty": False}, DEFAULT, "outside_exchange_window", id="out_of_warranty"),
        pytest.param("exchange", 200, {"still_failing": False}, DEFAULT, "outside_exchange_window", id="fixed_by_now"),
        pytest.param(
            "return", 200, {"man_made_damage": True}, DEFAULT, "man_made_damage", id="man_made_damage_bars_it"
        ),
        pytest.param(
            "return", 200, {"has_purchase_voucher": False}, DEFAULT, "no_purchase_voucher", id="no_voucher_bars_it"
        ),
        pytest.param(
            "exchange",
            200,
            {"quality_dept_found_no_defect": True},
            DEFAULT,
            "quality_test_found_no_defect",
            id="a_no_defect_finding_bars_it",
        ),
        pytest.param(
            "exchange",
            200,
            {"quality_dept_found_no_defect": None},
            DEFAULT,
            "needs_quality_test",
            id="an_untested_claim_waits_for_the_quality_test",
        ),
        pytest.param(
            "exchange",
            200,
            {},
            DEFAULT.model_copy(update={"max_repairs_before_exchange": 3}),
            "outside_exchange_window",
            id="a_profile_asking_three_repairs_refuses_after_two",
        ),
    ],
)
def test_still_failing_after_two_repairs_in_warranty(kind, day, facts, profile, outcome):
    decision = checked(claim(kind, day=day, **{**REPAIRED_TWICE, **facts}), profile)
    if outcome == "granted":
        assert decision.eligible
        assert decision.offered == ("exchange", "return")
        reason = {r.code: r for r in decision.grants}["still_failing_after_repairs_in_warranty"]
        assert reason.source == "regulations.md 三包 ¶3"
    elif outcome == "needs_quality_test":
        assert codes(decision.needs) == ["needs_quality_test"]
    else:
        assert outcome in codes(decision.refusals)


def test_after_two_repairs_exchange_is_offered_before_refund():
    assert checked(claim("return", day=200, **REPAIRED_TWICE)).offered == ("exchange", "return")


# ---- the quality test (F1:316(8)) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "day", "facts", "state"),
    [
        pytest.param(
            "return",
            3,
            {"unused": True, "manufacturing_defect": True, "packaging_complete": False},
            "refused",
            id="a_refusal_ground_needs_no_test",
        ),
        pytest.param("return", 3, {"manufacturing_defect": True}, "pending", id="a_defect_return_waits_for_the_test"),
        pytest.param(
            "exchange",
            10,
            {"fails_to_start_per_manual": True},
            "pending",
            id="an_exchange_for_a_start_failure_waits_for_the_test",
        ),
        pytest.param(
            "exchange",
            10,
            {"previous_exchanges": 1, "still_failing": True},
            "pending",
            id="a_second_exchange_waits_for_the_test",
        ),
        pytest.param(
            "exchange",
            16,
            {"fails_to_start_per_manual": True},
            "refused",
            id="a_late_exchange_is_refused_without_a_test",
        ),
        pytest.param(
            "return",
            3,
            {"unused": True, "manufacturing_defect": True},
            "eligible",
            id="a_complete_unused_return_needs_no_test",
        ),
        pytest.param(
            "exchange",
            10,
            {"not_as_described": True},
            "eligible",
            id="an_exchange_for_goods_unlike_their_description_needs_no_test",
        ),
        pytest.param(
            "return",
            3,
            {"manufacturing_defect": True, "quality_dept_found_no_defect": True},
            "refused",
            id="a_defect_return_is_refused_once_no_defect_is_found",
        ),
    ],
)
def test_a_quality_claim_waits_for_the_quality_department(kind, day, facts, state):
    decision = checked(claim(kind, day=day, **facts))
    if state == "pending":
        assert not decision.eligible and not decision.decided
        assert codes(decision.needs) == ["needs_quality_test"]
        assert decision.needs[0].source == "F1:316(8)"
        assert decision.refusals == ()
    elif state == "refused":
        assert decision.decided and decision.refusals
    else:
        assert decision.eligible


# ---- what is offered, in the order the law names it (三包 ¶1-3) -----------------------------------


@pytest.mark.parametrize(
    ("kind", "day", "facts", "offered"),
    [
        pytest.param(
            "return",
            3,
            UNUSED_WITH_CONFIRMED_DEFECT,
            ("return", "exchange", "repair"),
            id="a_defect_within_seven_days_offers_return_exchange_or_repair",
        ),
        pytest.param(
            "exchange",
            10,
            UNUSED_WITH_CONFIRMED_DEFECT,
            ("exchange", "repair"),
            id="a_defect_within_fifteen_days_offers_exchange_or_repair",
        ),
        pytest.param("return", 3, {"unused": True}, ("return",), id="a_return_without_reason_offers_only_a_return"),
        pytest.param(
            "exchange",
            10,
            {"not_as_described": True},
            ("exchange",),
            id="goods_unlike_their_description_offer_only_an_exchange",
        ),
        pytest.param(
            "return", 200, REPAIRED_TWICE, ("exchange", "return"), id="two_failed_repairs_offer_exchange_or_refund"
        ),
        pytest.param(
            "return",
            10,
            {**REPAIRED_TWICE, "non_man_made_quality_problem": True},
            ("exchange", "return", "repair"),
            id="two_failed_repairs_inside_the_exchange_window_add_a_refund_before_repair",
        ),
    ],
)
def test_the_remedies_are_offered_in_the_order_the_law_names_them(kind, day, facts, offered):
    assert checked(claim(kind, day=day, **facts)).offered == offered


def test_a_refused_return_shows_why_and_what_is_offered_instead():
    decision = checked(claim("return", day=10, **UNUSED_WITH_CONFIRMED_DEFECT))
    assert codes(decision.refusals) == ["outside_return_window"]
    assert decision.refusals[0].text("en").startswith("Returns are accepted within 7 days")
    assert decision.offered == ("exchange", "repair")
    assert "unused_with_manufacturing_defect" in codes(decision.grants)
    assert decision.grants[-1].code == "repair_is_also_a_choice"


# ---- the grocery profile (F1:318) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "after_signing", "kind", "facts", "refusal"),
    [
        pytest.param("fresh", None, "return", {}, None, id="fresh_goods_returned_at_the_door_before_signing"),
        pytest.param("fresh", timedelta(0), "exchange", {}, None, id="fresh_goods_exchanged_as_they_are_signed_for"),
        pytest.param(
            "fresh",
            timedelta(minutes=5),
            "return",
            {},
            "after_signing_deadline",
            id="fresh_goods_after_signing_are_refused",
        ),
        pytest.param(
            "fresh",
            timedelta(hours=2),
            "exchange",
            {},
            "after_signing_deadline",
            id="fresh_goods_after_signing_cannot_be_exchanged_either",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=23),
            "return",
            {},
            None,
            id="non_fresh_goods_23_hours_after_signing_are_in_time",
        ),
        pytest.param(
            "non_fresh", timedelta(hours=24), "return", {}, None, id="non_fresh_goods_at_exactly_24_hours_are_in_time"
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=25),
            "return",
            {},
            "after_signing_deadline",
            id="non_fresh_goods_25_hours_after_signing_are_refused",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=1),
            "return",
            {"opened_or_used": True},
            "opened_or_used",
            id="opened_goods_are_refused_whatever_the_problem",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=1),
            "return",
            {"customer_wrong_order": True},
            "customer_wrong_order",
            id="a_wrong_order_by_the_customer_is_refused",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=1),
            "return",
            {"storage_problem": True},
            "customer_caused_or_storage_problem",
            id="a_storage_problem_is_refused",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=1),
            "return",
            {"returns_on_this_order": 1},
            "order_already_returned_or_exchanged",
            id="a_second_return_on_the_same_order_is_refused",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=1),
            "exchange",
            {"returns_on_this_order": 1},
            "order_already_returned_or_exchanged",
            id="an_exchange_after_a_return_on_the_order_is_refused",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=1),
            "return",
            {"has_purchase_voucher": False},
            "missing_required_materials",
            id="no_delivery_slip_or_receipt_is_refused",
        ),
        pytest.param(
            "non_fresh",
            timedelta(0),
            "return",
            {"non_man_made_quality_problem": False, "quantity_differs": True},
            None,
            id="a_short_quantity_raised_at_delivery_is_accepted",
        ),
        pytest.param(
            "non_fresh",
            timedelta(hours=2),
            "return",
            {"non_man_made_quality_problem": False, "quantity_differs": True},
            "no_return_condition_met",
            id="a_short_quantity_raised_after_signing_is_refused",
        ),
        pytest.param(
            "fresh",
            None,
            "exchange",
            {"non_man_made_quality_problem": False, "not_as_described": True},
            None,
            id="goods_unlike_the_order_raised_at_the_door_are_exchanged",
        ),
        pytest.param(
            "non_fresh",
            timedelta(0),
            "return",
            {"non_man_made_quality_problem": False, "transit_damage_found_at_delivery": True},
            None,
            id="broken_packaging_raised_at_delivery_is_accepted",
        ),
    ],
)
def test_grocery_returns_and_exchanges(category, after_signing, kind, facts, refusal):
    decision = checked(grocery_claim(category, after_signing, kind, **facts), GROCERY)
    assert "repair" not in decision.offered
    if refusal is None:
        assert decision.eligible
        assert all(reason.source == "F1:318" for reason in decision.grants)
    else:
        assert not decision.eligible
        assert refusal in codes(decision.refusals)
        assert {reason.source for reason in decision.refusals} == {"F1:318"}


def test_the_grocery_refusal_after_24_hours_names_the_hours_and_the_signature():
    decision = checked(grocery_claim("non_fresh", timedelta(hours=25)), GROCERY)
    assert "24 hours after signing (2025-03-01T10:00+08:00)" in decision.refusals[0].text_en
    assert "24小时内" in decision.refusals[0].text_zh


def test_the_grocery_limits_are_data_a_48_hour_profile_accepts_30_hours():
    generous = GROCERY.model_copy(update={"hours_after_signing": {"fresh": 0, "non_fresh": 48}})
    assert checked(grocery_claim("non_fresh", timedelta(hours=30)), generous).eligible


@pytest.mark.parametrize(
    ("profile", "category"),
    [
        pytest.param(GROCERY, "durable", id="the_grocery_profile_does_not_cover_durable_goods"),
        pytest.param(DEFAULT, "fresh", id="the_default_profile_does_not_cover_fresh_goods"),
    ],
)
def test_a_profile_refuses_to_judge_goods_it_does_not_cover(profile, category):
    with pytest.raises(ValueError, match="not " + category):
        decide(claim(goods_category=category, unused=True), profile)


# ---- warranty restart after an exchange (regulations.md 三包 ¶4) ---------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        pytest.param(DEFAULT, date(2025, 9, 1), id="the_default_warranty_restarts_on_the_exchange_day"),
        pytest.param(GROCERY, date(2025, 3, 1), id="a_profile_without_restart_keeps_the_original_start"),
    ],
)
def test_warranty_start_after_an_exchange(profile, expected):
    assert warranty_start_after_exchange(date(2025, 3, 1), date(2025, 9, 1), profile) == expected


def test_an_exchange_before_the_warranty_started_is_an_error():
    with pytest.raises(ValueError, match="before the warranty started"):
        warranty_start_after_exchange(date(2025, 3, 1), date(2025, 2, 1), DEFAULT)


# ---- claim validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        pytest.param({"requested_on": date(2025, 2, 28)}, "before delivered_on", id="a_request_before_delivery"),
        pytest.param({"signed_at": SIGNED}, "requested_at is needed", id="a_signature_without_the_request_time"),
        pytest.param({"requested_at": datetime(2025, 3, 5, 9, 0)}, "another day", id="a_request_time_on_another_day"),
        pytest.param(
            {"requested_on": date(2025, 3, 1), "signed_at": SIGNED, "requested_at": datetime(2025, 3, 1, 11)},
            "time zone",
            id="a_signature_and_a_request_time_in_mixed_zones",
        ),
        pytest.param({"previous_exchanges": -1}, "greater than or equal to 0", id="a_negative_count"),
        pytest.param({"kind": "refund"}, "kind", id="an_unknown_kind"),
        pytest.param({"colour": "red"}, "Extra inputs", id="an_unknown_fact"),
    ],
)
def test_an_inconsistent_claim_is_rejected(facts, message):
    with pytest.raises(ValueError, match=message):
        claim(**facts)


# ---- the profiles file ------------------------------------------------------------------------


def test_the_shipped_profiles_carry_the_figures_of_the_sources():
    assert (DEFAULT.return_window_days, DEFAULT.exchange_window_days) == (7, 15)  # F1:312
    assert DEFAULT.max_repairs_before_exchange == 2  # 三包 ¶3
    assert DEFAULT.warranty_restarts_after_exchange  # 三包 ¶4
    assert len({GROUNDS[g].source for g in DEFAULT.refusal_grounds}) == 8  # F1:316(2)-(9); (1) is the windows
    assert GROCERY.hours_after_signing == {"fresh": 0, "non_fresh": 24}  # F1:318
    assert GROCERY.max_returns_per_order == 1  # F1:318
    assert GROCERY.max_repairs_before_exchange is None


def write(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(PROFILES_FILE.read_text(encoding="utf-8"))
    changed = change(data)
    path = tmp_path / "profiles.yaml"
    path.write_text(changed if isinstance(changed, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def default_profile(data):
    return data["profiles"]["default"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda d: "profiles: [unclosed", "not valid YAML", id="broken_yaml"),
        pytest.param(lambda d: "- a list\n", "version: 1", id="a_list_instead_of_a_mapping"),
        pytest.param(lambda d: d.update(version=2), "version: 1", id="an_unknown_version"),
        pytest.param(lambda d: d.update(profiles={}), "non-empty 'profiles'", id="no_profiles"),
        pytest.param(
            lambda d: default_profile(d).update(return_conditions=["whim"]),
            "return_conditions.0",
            id="an_unknown_condition_code",
        ),
        pytest.param(
            lambda d: default_profile(d).update(refusal_grounds=["mood"]),
            "refusal_grounds.0",
            id="an_unknown_refusal_ground",
        ),
        pytest.param(
            lambda d: default_profile(d).update(return_window_days=-1), "return_window_days", id="a_negative_window"
        ),
        pytest.param(
            lambda d: default_profile(d).update(max_repairs_before_exchange=0),
            "max_repairs_before_exchange",
            id="zero_repairs",
        ),
        pytest.param(lambda d: default_profile(d).update(return_window=7), "Extra inputs", id="a_misspelt_key"),
        pytest.param(
            lambda d: default_profile(d).pop("warranty_restarts_after_exchange"), "Field required", id="a_missing_key"
        ),
        pytest.param(
            lambda d: default_profile(d).update(return_conditions=["transit_damage_found_at_delivery"]),
            "has no return line",
            id="an_exchange_only_condition_listed_for_returns",
        ),
        pytest.param(
            lambda d: default_profile(d).update(refusal_grounds=["force_majeure", "force_majeure"]),
            "twice",
            id="a_ground_listed_twice",
        ),
        pytest.param(
            lambda d: default_profile(d).update(hours_after_signing={"fresh": 0}),
            "not in goods_categories",
            id="hours_for_goods_the_profile_does_not_cover",
        ),
        pytest.param(
            lambda d: default_profile(d).update(exchange_window_days=None),
            "no time limit",
            id="goods_with_no_time_limit",
        ),
        pytest.param(
            lambda d: default_profile(d).update(return_conditions=[]), "return_conditions", id="no_return_conditions"
        ),
    ],
)
def test_a_bad_profiles_file_is_a_clear_value_error(tmp_path, change, message):
    path = write(tmp_path, change)
    with pytest.raises(ValueError, match=message) as caught:
        load_profiles(path)
    assert isinstance(caught.value, ProfileFileError)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        pytest.param(lambda d: d.update(version=2), "version", id="version"),
        pytest.param(lambda d: default_profile(d).update(return_conditions=["transit_damage_found_at_delivery"]),
                     "profiles.default.return_conditions", id="model_level_check"),
        pytest.param(lambda d: default_profile(d).update(exchange_window_days=None),
                     "profiles.default.exchange_window_days", id="no_time_limit"),
        pytest.param(lambda d: default_profile(d).update(refusal_grounds=["mood"]),
                     "profiles.default.refusal_grounds.0", id="field"),
    ],
)
def test_a_bad_profiles_file_is_a_configuration_error_naming_file_and_key(tmp_path, change, key):
    path = write(tmp_path, change)
    with pytest.raises(ConfigurationError) as caught:
        load_profiles(path)
    assert isinstance(caught.value, ProfileFileError)
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_profiles_file_is_a_clear_value_error(tmp_path):
    with pytest.raises(ProfileFileError, match=r"absent\.yaml: cannot read eligibility profiles") as caught:
        load_profiles(tmp_path / "absent.yaml")
    assert caught.value.file == str(tmp_path / "absent.yaml")


def test_the_error_names_the_profile_at_fault(tmp_path):
    path = write(tmp_path, lambda d: d["profiles"]["grocery"].update(max_returns_per_order=0))
    with pytest.raises(ProfileFileError, match=r"profiles\.grocery\.max_returns_per_order: ") as caught:
        load_profiles(path)
    assert (caught.value.file, caught.value.key) == (str(path), "profiles.grocery.max_returns_per_order")


# ---- the rule tables ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "rule"),
    [pytest.param(c, r, id=f"condition_{c}") for c, r in CONDITIONS.items()]
    + [pytest.param(c, r, id=f"ground_{c}") for c, r in GROUNDS.items()],
)
def test_every_rule_has_a_citation_and_texts_in_both_languages(code, rule):
    sources = rule.sources.values() if hasattr(rule, "sources") else [rule.source]
    assert all(CITATION.match(source) for source in sources)
    assert rule.text_en and not CJK.search(rule.text_en)
    assert CJK.search(rule.text_zh)


def test_the_rules_import_no_prefect_database_templates_or_yaml():
    code = (
        "import sys, aftersales.rules.eligibility\n"
        "heavy = {'prefect', 'sqlmodel', 'sqlalchemy', 'jinja2', 'apprise', 'yaml'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
