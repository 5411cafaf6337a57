"""Warranty and responsibility rules: who pays for a repair, and why (each reason cites its source)."""

from __future__ import annotations

from datetime import date

import pytest

from aftersales.rules.warranty import add_months, decide_warranty

THREE_YEARS = 36  # F1:19 "公司产品提供三年保修期限"


def decide(purchase_date: date | None, today: date, **kwargs: object):
    options: dict[str, object] = {"months": THREE_YEARS, "man_made_damage": False}
    options.update(kwargs)
    return decide_warranty(purchase_date=purchase_date, today=today, **options)  # type: ignore[arg-type]


# ---- add_months ------------------------------------------------------------------------------


def test_add_months_keeps_the_day_of_month():
    assert add_months(date(2025, 3, 15), 1) == date(2025, 4, 15)


def test_warranty_ends_three_years_after_purchase():
    assert add_months(date(2023, 5, 10), THREE_YEARS) == date(2026, 5, 10)


def test_add_months_clips_31_january_to_the_end_of_february():
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)


def test_add_months_clips_to_29_february_in_a_leap_year():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)


def test_add_months_clips_31_march_to_30_april():
    assert add_months(date(2025, 3, 31), 1) == date(2025, 4, 30)


def test_a_leap_day_purchase_ends_on_28_february_in_a_common_year():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), THREE_YEARS) == date(2027, 2, 28)


def test_a_leap_day_purchase_keeps_29_february_four_years_later():
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)


def test_add_months_rolls_over_the_year_end():
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2025, 12, 1), 1) == date(2026, 1, 1)


def test_adding_zero_months_returns_the_same_day():
    assert add_months(date(2025, 6, 30), 0) == date(2025, 6, 30)


# ---- decide_warranty -------------------------------------------------------------------------


def test_a_repair_one_day_before_the_end_is_in_warranty():
    decision = decide(date(2023, 5, 10), date(2026, 5, 9))
    assert decision.in_warranty is True
    assert decision.customer_responsibility is False
    assert decision.expires_on == date(2026, 5, 10)


def test_a_repair_on_the_boundary_day_is_out_of_warranty():
    decision = decide(date(2023, 5, 10), date(2026, 5, 10))
    assert decision.in_warranty is False
    assert decision.customer_responsibility is True
    assert decision.expires_on == date(2026, 5, 10)


def test_a_repair_long_after_the_end_is_out_of_warranty():
    decision = decide(date(2020, 1, 1), date(2026, 1, 1))
    assert decision.in_warranty is False
    assert decision.customer_responsibility is True


def test_the_in_warranty_reason_cites_the_three_year_rule():
    decision = decide(date(2024, 6, 1), date(2025, 6, 1))
    assert len(decision.reasons) == 1
    assert "F1:19" in decision.reasons[0]
    assert "2027-06-01" in decision.reasons[0]


def test_the_expired_reason_cites_the_three_year_rule_and_the_paid_repair_rule():
    decision = decide(date(2021, 6, 1), date(2025, 6, 1))
    assert len(decision.reasons) == 1
    assert "F1:19" in decision.reasons[0]
    assert "F1:40" in decision.reasons[0]
    assert "2024-06-01" in decision.reasons[0]


def test_without_a_purchase_date_the_customer_pays():
    decision = decide(None, date(2025, 6, 1))
    assert decision.in_warranty is False
    assert decision.customer_responsibility is True
    assert decision.expires_on is None


def test_without_a_purchase_date_the_reason_cites_the_voucher_rule():
    decision = decide(None, date(2025, 6, 1))
    assert any("F1:8" in reason and "F1:38" in reason for reason in decision.reasons)


def test_man_made_damage_inside_warranty_is_the_customers_responsibility():
    decision = decide(date(2024, 6, 1), date(2025, 6, 1), man_made_damage=True)
    assert decision.in_warranty is False
    assert decision.customer_responsibility is True
    assert decision.expires_on == date(2027, 6, 1)


def test_man_made_damage_inside_warranty_gives_both_reasons_with_sources():
    decision = decide(date(2024, 6, 1), date(2025, 6, 1), man_made_damage=True)
    assert len(decision.reasons) == 2
    assert "F1:19" in decision.reasons[0]
    assert "man-made" in decision.reasons[1]
    assert "F1:316" in decision.reasons[1]


def test_man_made_damage_after_warranty_is_still_the_customers_responsibility():
    decision = decide(date(2020, 6, 1), date(2025, 6, 1), man_made_damage=True)
    assert decision.in_warranty is False
    assert decision.customer_responsibility is True


def test_man_made_damage_stays_covered_when_the_policy_switch_is_off():
    decision = decide(
        date(2024, 6, 1), date(2025, 6, 1), man_made_damage=True, man_made_is_customer_responsibility=False
    )
    assert decision.in_warranty is True
    assert decision.customer_responsibility is False
    assert not any("man-made" in reason for reason in decision.reasons)


def test_staff_can_put_an_expired_product_in_warranty():
    decision = decide(date(2020, 6, 1), date(2025, 6, 1), override="in")
    assert decision.in_warranty is True
    assert decision.customer_responsibility is False
    assert decision.expires_on == date(2023, 6, 1)


def test_staff_can_put_a_product_without_purchase_date_in_warranty():
    decision = decide(None, date(2025, 6, 1), override="in")
    assert decision.in_warranty is True
    assert decision.customer_responsibility is False
    assert decision.expires_on is None


def test_staff_can_put_a_product_inside_warranty_out_of_it():
    decision = decide(date(2024, 6, 1), date(2025, 6, 1), override="out")
    assert decision.in_warranty is False
    assert decision.customer_responsibility is True


@pytest.mark.parametrize(("override", "wording"), [("in", "staff decided in warranty"),
                                                   ("out", "staff decided out of warranty")])
def test_a_staff_override_is_recorded_with_its_source(override: str, wording: str):
    decision = decide(date(2024, 6, 1), date(2025, 6, 1), override=override)
    assert decision.reasons == [f"{wording} (F2:15)"]


def test_every_reason_cites_a_source_line():
    cases = [
        decide(date(2024, 6, 1), date(2025, 6, 1)),
        decide(date(2020, 6, 1), date(2025, 6, 1)),
        decide(None, date(2025, 6, 1)),
        decide(date(2024, 6, 1), date(2025, 6, 1), man_made_damage=True),
        decide(date(2024, 6, 1), date(2025, 6, 1), override="out"),
    ]
    for decision in cases:
        assert decision.reasons
        for reason in decision.reasons:
            assert "(F" in reason and ":" in reason, reason
