"""Repair rules: which approvals a fee needs, and the case number format."""

from __future__ import annotations

import re

import pytest

from aftersales.procedures import registry
from aftersales.rules.numbering import case_number
from aftersales.rules.repair import fee_route


def route(*, customer_responsibility: bool, fee: float, finance: bool = True, gm: bool = True):
    return fee_route(
        customer_responsibility=customer_responsibility,
        fee=fee,
        fee_needs_finance_audit=finance,
        free_repair_needs_gm=gm,
    )


# ---- fee_route -------------------------------------------------------------------------------


def test_a_warranty_repair_needs_no_approval():
    decision = route(customer_responsibility=False, fee=0)
    assert decision.approvals == ()
    assert "F1:38" in decision.reason


def test_a_warranty_repair_needs_no_approval_even_with_a_fee_entered():
    assert route(customer_responsibility=False, fee=350.0).approvals == ()


def test_a_warranty_repair_needs_no_approval_whatever_the_switches():
    assert route(customer_responsibility=False, fee=0, finance=False, gm=False).approvals == ()


def test_a_paid_repair_is_audited_by_finance_then_confirmed_by_the_customer():
    decision = route(customer_responsibility=True, fee=480.0)
    assert decision.approvals == ("finance_audit", "quote_confirmation")
    assert "F2:428-429" in decision.reason


def test_a_paid_repair_of_one_cent_still_needs_both_approvals():
    assert route(customer_responsibility=True, fee=0.01).approvals == ("finance_audit", "quote_confirmation")


def test_a_paid_repair_skips_finance_when_the_policy_switch_is_off():
    assert route(customer_responsibility=True, fee=480.0, finance=False).approvals == ("quote_confirmation",)


def test_a_paid_repair_does_not_involve_the_general_manager():
    assert "gm_free_repair" not in route(customer_responsibility=True, fee=480.0).approvals


def test_a_free_repair_of_the_customers_responsibility_needs_the_general_manager():
    decision = route(customer_responsibility=True, fee=0)
    assert decision.approvals == ("gm_free_repair",)
    assert "F2:433" in decision.reason


def test_a_free_repair_needs_no_approval_when_the_gm_switch_is_off():
    assert route(customer_responsibility=True, fee=0, gm=False).approvals == ()


def test_a_free_repair_needs_no_finance_audit():
    assert "finance_audit" not in route(customer_responsibility=True, fee=0).approvals


@pytest.mark.parametrize("responsible", [True, False])
def test_a_negative_fee_is_refused(responsible: bool):
    with pytest.raises(ValueError, match="negative"):
        route(customer_responsibility=responsible, fee=-1.0)


# ---- case_number -----------------------------------------------------------------------------


def test_a_repair_case_number_reads_like_rp_date_sequence():
    assert case_number("RP", "20261123", 42) == "RP-20261123-00042"


@pytest.mark.parametrize(
    ("procedure", "prefix"),
    [
        ("repair", "RP"),
        ("return", "RT"),
        ("exchange", "EX"),
        ("complaint", "CP"),
    ],
)
def test_each_procedure_has_its_own_case_number_prefix(procedure: str, prefix: str):
    number = case_number(registry.get(procedure).prefix, "20251009", 7)
    assert number == f"{prefix}-20251009-00007"
    assert re.fullmatch(r"[A-Z]{2}-\d{8}-\d{5}", number)


def test_case_numbers_of_different_sequences_differ():
    assert case_number("RP", "20251009", 1) != case_number("RP", "20251009", 2)


def test_a_sequence_beyond_five_digits_is_not_truncated():
    assert case_number("RP", "20251009", 123456) == "RP-20251009-123456"
