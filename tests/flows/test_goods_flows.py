"""Returns and exchanges driven from the e-mailed links on a real Prefect stack (spec §3-§4, 三包)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from aftersales.runtime.stack import Stack
from tests.flows.conftest import new_case
from tests.flows.driver import Driver

pytestmark = pytest.mark.stack

PROOFS = [{"kind": "purchase_voucher", "ref": "doc://voucher/1"}, {"kind": "photo", "ref": "doc://photo/1"}]
CLEAN_REVIEW = {"voucher_valid": "true", "packaging_complete": "true", "unused": "true", "quality_problem": "true"}


def new_goods_case(
    stack: Stack,
    procedure: str,
    *,
    model: str = "PT-3000",
    days_ago: int = 3,
    reason: str = "defect",
    quantity: int = 1,
) -> str:
    goods = {
        "delivered_on": (date.today() - timedelta(days=days_ago)).isoformat(),
        "order_number": "SO-1",
        "quantity": quantity,
        "reason": reason,
        "unused": True,
        "proofs": PROOFS,
    }
    return new_case(stack, procedure=procedure, product_model=model, problem_description="开箱即无法开机", goods=goods)


def test_an_approved_return_is_refunded_from_the_links(stack_env: Stack, driver: Driver) -> None:
    number = new_goods_case(stack_env, "return")
    # Unused and complete within 7 days: a return is granted at once (F1:314(2)); only a return is on offer
    # until a quality test proves the defect, so the customer is not asked to choose.
    driver.answer_gate(number, "returns.review", "li.na", CLEAN_REVIEW)
    driver.answer_gate(number, "returns.approval_manager", "wang.fang", {"approved": "true"})
    driver.answer_gate(
        number,
        "returns.schedule",
        "li.na",
        {"return_date": date.today().isoformat(), "refund_method": "original_payment"},
    )
    driver.answer_gate(number, "returns.goods_received", "wu.lei", {"received": "true", "intact": "true"})
    driver.answer_gate(
        number, "returns.refund", "zhao.min", {"refunded": "true", "amount": "1800", "reference": "PAY-1"}
    )
    driver.answer_gate(
        number, "returns.acceptance", "customer@example.com", {"accepted": "true", "signature_name": "测试客户"}
    )
    driver.answer_gate(number, "returns.survey", "customer@example.com", {"score": "5"})
    view = driver.wait_for_status(number, "refunded")
    subjects = [m.subject for m in driver.mails("customer@example.com") if number in m.subject]
    assert any("退货安排" in s for s in subjects) and any("退款已完成" in s for s in subjects), subjects
    schedule = next(m for m in driver.mails("customer@example.com") if number in m.subject and "退货安排" in m.subject)
    assert "原路退回" in schedule.text  # the refund method, in the customer's language (F1:318)
    assert any(h["kind"] == "decision" and "eligible" in h["summary"] for h in view["history"])


def test_returned_goods_that_arrive_not_intact_are_not_refunded_but_go_to_the_refusal_review(
    stack_env: Stack, driver: Driver
) -> None:
    """F1:316(9) "终端消费者退回的商品不完好的": no refund; the manager confirms, the customer gets the reason."""
    number = new_goods_case(stack_env, "return")
    driver.answer_gate(number, "returns.review", "li.na", CLEAN_REVIEW)
    driver.answer_gate(number, "returns.approval_manager", "wang.fang", {"approved": "true"})
    driver.answer_gate(number, "returns.schedule", "li.na",
                       {"return_date": date.today().isoformat(), "refund_method": "original_payment"})
    driver.answer_gate(number, "returns.goods_received", "wu.lei", {"received": "true", "intact": "false"})
    gate = driver.wait_for_gate(number, "returns.refusal_review")
    _, link = driver.link_for_gate("wang.fang", gate["id"])
    assert "F1:316(9)" in driver.http.get(link).text, "the manager sees the rule and its line"
    assert driver.answer(link, {"override": "false", "reason": "外壳碎裂,非运输原因"}).status_code == 200
    view = driver.wait_for_status(number, "refused")
    assert all(g["kind"] != "returns.refund" for g in view["gates"]), "no refund was asked for"
    [refusal] = [m for m in driver.mails("customer@example.com") if number in m.subject and "很抱歉" in m.subject]
    assert "退回的商品不完好" in refusal.text
    assert view["data"]["refusals"] == ["returned_goods_not_intact"]


def test_a_late_return_is_refused_with_reasons_the_customer_can_read(stack_env: Stack, driver: Driver) -> None:
    number = new_goods_case(stack_env, "return", days_ago=20, reason="no_reason")
    driver.answer_gate(number, "returns.review", "li.na", {"voucher_valid": "true", "packaging_complete": "true"})
    gate = driver.wait_for_gate(number, "returns.refusal_review")
    _, link = driver.link_for_gate("wang.fang", gate["id"])
    page = driver.http.get(link).text
    assert "F1:312" in page or "F1:316" in page, "staff see the rule and its line"
    assert driver.answer(link, {"override": "false", "reason": "超过7天退货期"}).status_code == 200
    view = driver.wait_for_status(number, "refused")
    [refusal] = [m for m in driver.mails("customer@example.com") if number in m.subject and "很抱歉" in m.subject]
    assert "7" in refusal.text
    assert view["data"]["refusals"]


def test_a_costly_exchange_is_approved_by_a_quorum_of_the_gm_office_meeting(stack_env: Stack, driver: Driver) -> None:
    number = new_goods_case(stack_env, "exchange", model="PT-9000", quantity=1)
    driver.answer_gate(number, "returns.review", "li.na", CLEAN_REVIEW)
    driver.answer_gate(number, "returns.quality_test", "sun.li", {"defect_found": "true", "report": "电机异响"})
    driver.answer_gate(number, "returns.choice", "customer@example.com", {"choice": "exchange"})
    gate = driver.wait_for_gate(number, "returns.approval_meeting")  # 26 000 CNY: above the GM's level
    _, first = driver.link_for_gate("liu.yang", gate["id"])
    vote = driver.answer(first, {"approved": "true", "comment": "同意"})
    assert vote.status_code == 200 and "2" in vote.text
    assert driver.case(number)["current_gate"]["kind"] == "returns.approval_meeting", "one vote does not decide"
    _, second = driver.link_for_gate("zhao.min", gate["id"])
    assert driver.answer(second, {"approved": "true"}).status_code == 200
    driver.answer_gate(
        number,
        "returns.replacement_shipped",
        "wu.lei",
        {"new_serial_number": "SN-NEW-1", "shipped_on": date.today().isoformat()},
    )
    driver.answer_gate(
        number, "returns.acceptance", "customer@example.com", {"accepted": "true", "signature_name": "测试客户"}
    )
    driver.answer_gate(number, "returns.survey", "customer@example.com", {"score": "4"})
    view = driver.wait_for_status(number, "exchanged")
    assert view["data"]["replacement_serial"] == "SN-NEW-1"
    assert view["data"]["warranty_start"] == date.today().isoformat()  # 三包 ¶4: warranty restarts
    decided = next(g for g in view["gates"] if g["kind"] == "returns.approval_meeting")
    assert decided["answer"]["approved"] is True and "quorum" in decided["answered_by"]


def test_an_exchange_that_needs_a_repair_opens_a_linked_repair(stack_env: Stack, driver: Driver) -> None:
    number = new_goods_case(stack_env, "exchange")
    driver.answer_gate(number, "returns.review", "li.na", {**CLEAN_REVIEW, "needs_repair_instead": "true"})
    view = driver.wait_for_status(number, "converted")
    [repair] = view["data"]["linked_cases"]
    assert driver.case(repair)["parent_case_id"] is not None
    driver.wait_for_gate(repair, "repair.triage")
