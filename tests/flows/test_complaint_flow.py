"""Complaints driven from the e-mailed links on a real Prefect stack (spec §5, 004:407-485)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from aftersales.runtime.stack import Stack
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.flows.test_repair_flow import assert_no_message_twice

pytestmark = pytest.mark.stack

TODAY = date.today().isoformat()
# The steps in the order of 004:461-471 (with F1:212-222 for the first response and the verification).
SOURCE_ORDER = ["complaint.first_response", "complaint.joint_inspection", "complaint.joint_inspection_sales",
                "complaint.acceptance", "complaint.verification", "complaint.quality_report", "complaint.gm_report",
                "complaint.responsibility", "complaint.countermeasures", "complaint.manager_approval",
                "complaint.customer_sign_off", "complaint.follow_up"]


def new_complaint(stack: Stack, category: str = "product_quality", **details: object) -> str:
    return new_case(stack, procedure="complaint", problem_description="维修后仍有异响",
                    complaint={"category": category, "customer_demand": "重新维修", "quantity": 2,
                               "defective_quantity": 1, **details})


def first_response(driver: Driver, number: str, *, joint: bool = False) -> None:
    driver.answer_gate(number, "complaint.first_response", "li.na",
                       {"response": "已致电客户,正在调查", "needs_joint_inspection": str(joint).lower()})


def accept(driver: Driver, number: str) -> None:
    """The GM's office (总经理室, 刘洋 in the demo directory) accepts the form: the closing limit starts (004:485)."""
    driver.answer_gate(number, "complaint.acceptance", "liu.yang", {"comment": "受理"})


def investigate(driver: Driver, number: str, *, measures: dict[str, str], send_back: bool = False) -> None:
    """Verification by quality (a quality category), quality's report, the GM's instruction, responsibility,
    countermeasures and the manager's office (004:465-467)."""
    driver.answer_gate(number, "complaint.verification", "sun.li", {"substantiated": "true", "findings": "轴承磨损"})
    driver.answer_gate(number, "complaint.quality_report", "sun.li", {"report": "轴承批次不良,已现场确认"})
    driver.answer_gate(number, "complaint.gm_report", "liu.yang", {"acknowledged": "true", "instruction": "尽快处理"})
    driver.answer_gate(number, "complaint.responsibility", "sun.li",
                       {"responsible": "our_quality", "handling_method": "免费更换轴承"})
    if send_back:
        driver.answer_gate(number, "complaint.countermeasures", "zhou.qiang", measures)
        driver.answer_gate(number, "complaint.manager_approval", "wang.fang",
                           {"approved": "false", "comment": "补充追溯"})
    driver.answer_gate(number, "complaint.countermeasures", "zhou.qiang", measures)
    driver.answer_gate(number, "complaint.manager_approval", "wang.fang", {"approved": "true"})


def measures(solution: str, **extra: str) -> dict[str, str]:
    return {"cause": "轴承批次不良", "countermeasures": "更换轴承并追溯批次", "solution": solution, **extra}


def sign_off_and_visit(driver: Driver, number: str) -> None:
    driver.answer_gate(number, "complaint.customer_sign_off", "customer@example.com", {"accept": "true"})
    # 004:411: the technical head (周强) or the person he sends visits, not customer service.
    driver.answer_gate(number, "complaint.follow_up", "zhou.qiang",
                       {"contacted": "true", "visited_on": TODAY, "visited_by": "周强", "notes": "客户满意"})


def test_a_complaint_runs_in_the_order_of_the_sources_and_opens_a_linked_repair(stack_env: Stack,
                                                                                driver: Driver) -> None:
    number = new_complaint(stack_env)
    first_response(driver, number, joint=True)
    # 004:463: sales and quality are told at once, before the form; both reports are needed (either order).
    driver.wait_for_gate(number, "complaint.joint_inspection_sales")
    driver.answer_gate(number, "complaint.joint_inspection", "sun.li",
                       {"attended": "true", "inspected_on": TODAY, "report": "现场确认异响"})
    driver.answer_gate(number, "complaint.joint_inspection_sales", "anna.schmidt",
                       {"inspected_on": TODAY, "report": "Noise confirmed on site"})
    accept(driver, number)
    investigate(driver, number, measures=measures("repair"), send_back=True)
    sign_off_and_visit(driver, number)
    view = driver.wait_for_status(number, "closed")

    opened = [g["kind"] for g in sorted(view["gates"], key=lambda g: (g["opened_at"], g["id"]))]
    firsts = [kind for i, kind in enumerate(opened) if kind not in opened[:i]]
    assert firsts == SOURCE_ORDER
    gates = {g["kind"]: g for g in view["gates"]}
    assert gates["complaint.verification"]["assignee_role"] == "quality_inspection"  # F1:213, policy mapping
    assert gates["complaint.quality_report"]["assignee_role"] == "quality_inspection"  # 004:465
    assert "zhou.qiang" in gates["complaint.follow_up"]["answered_by"]  # 004:411 the technical head
    accepted = datetime.fromisoformat(gates["complaint.acceptance"]["answered_at"])
    assert datetime.fromisoformat(view["data"]["close_by"]) == accepted + timedelta(days=5)  # 004:485
    assert view["data"]["handler"] == "li.na" and view["data"]["responsibility"] == "our_quality"
    [repair_number] = view["data"]["linked_cases"]
    repair = driver.case(repair_number)
    assert repair["procedure"] == "repair" and repair["parent_case_id"] is not None
    driver.wait_for_gate(repair_number, "repair.triage")  # the linked repair runs its own flow
    assert opened.count("complaint.countermeasures") == 2  # sent back once by the manager's office
    assert any("已受理" in m.subject for m in driver.mails("sun.li@example.com") if number in m.subject)  # 004:447
    customer = [m.subject for m in driver.mails("customer@example.com") if number in m.subject]
    assert any("投诉处理结果" in s for s in customer), customer
    assert_no_message_twice(driver, number)


def test_a_return_decided_on_a_complaint_opens_a_linked_return_with_the_goods_facts(stack_env: Stack,
                                                                                     driver: Driver) -> None:
    number = new_complaint(stack_env)
    first_response(driver, number)
    accept(driver, number)
    investigate(driver, number, measures=measures("return"))
    facts = {"delivered_on": (date.today() - timedelta(days=3)).isoformat(), "order_number": "SO-77",
             "claim_reason": "defect", "purchase_voucher": "DOC-1"}
    # The returns group's first answer has a delivery date no return can carry: asked again, nothing opened.
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    driver.answer_gate(number, "complaint.goods_facts", "li.na", {**facts, "delivered_on": tomorrow})
    second = driver.wait_for_gate(number, "complaint.goods_facts")
    assert second["key"] == "goods_facts#2"
    [invalid] = [h for h in driver.case(number)["history"] if h["key"] == "goods_facts#1:invalid"]
    assert "delivered_on" in invalid["summary"]
    driver.answer_gate(number, "complaint.goods_facts", "li.na", {**facts, "photo": "IMG-9"})
    driver.wait_for_gate(number, "complaint.customer_sign_off")
    view = driver.case(number)
    [child] = view["data"]["linked_cases"]
    linked = driver.case(child)
    assert linked["procedure"] == "return" and linked["data"]["parent_number"] == number
    assert linked["data"]["goods"]["order_number"] == "SO-77"
    assert {p["kind"] for p in linked["data"]["goods"]["proofs"]} == {"purchase_voucher", "photo"}
    driver.wait_for_gate(child, "returns.review")  # the return runs its own flow
    customer = [m.text for m in driver.mails("customer@example.com") if number in m.subject]
    assert any(child in text and "退货" in text for text in customer)


def test_a_serious_grievance_goes_to_the_deputy_gm_and_is_answered_by_letter(stack_env: Stack,
                                                                             driver: Driver) -> None:
    number = new_complaint(stack_env, "serious_grievance")
    # 004:407: the deputy GM (黄涛) is told at once, while customer service answers the customer.
    driver.wait_for_gate(number, "complaint.deputy_gm_review")
    first_response(driver, number, joint=True)
    driver.answer_gate(number, "complaint.deputy_gm_review", "huang.tao",
                       {"forward_to_gm": "true", "instruction": "请总经理关注"})
    # 004:463: quality cannot go in time; the GM appoints 周强, who reports to the GM afterwards.
    driver.answer_gate(number, "complaint.joint_inspection", "sun.li", {"attended": "false"})
    driver.answer_gate(number, "complaint.inspection_appointment", "liu.yang", {"appointee": "zhou.qiang"})
    driver.answer_gate(number, "complaint.appointed_inspection", "zhou.qiang",
                       {"inspected_on": TODAY, "report": "现场核实"})
    driver.answer_gate(number, "complaint.joint_inspection_sales", "anna.schmidt",
                       {"inspected_on": TODAY, "report": "Visited with 周强"})
    accept(driver, number)
    driver.answer_gate(number, "complaint.verification", "zhou.qiang",  # 技术部 by default (004:435)
                       {"substantiated": "true", "findings": "服务人员处理不当"})
    driver.answer_gate(number, "complaint.quality_report", "sun.li", {"report": "情况属实"})
    driver.answer_gate(number, "complaint.gm_report", "liu.yang", {"acknowledged": "true"})
    driver.answer_gate(number, "complaint.responsibility", "sun.li",
                       {"responsible": "our_service", "handling_method": "赔偿并道歉"})
    driver.answer_gate(number, "complaint.countermeasures", "zhou.qiang",
                       measures("compensation", amount="8000"))
    driver.answer_gate(number, "complaint.manager_approval", "wang.fang", {"approved": "true"})
    # F1:368: 8000 CNY is above the manager's level: the GM approves it (returns.approval_levels).
    driver.answer_gate(number, "returns.approval_gm", "liu.yang", {"approved": "true"})
    driver.wait_for_gate(number, "complaint.customer_sign_off")

    gm = [m.subject for m in driver.mails("liu.yang@example.com") if number in m.subject]
    assert any("副总经理转呈" in s for s in gm) and any("会勘报告" in s for s in gm), gm
    letters = [m.text for m in driver.mails("customer@example.com") if number in m.subject and "函" in m.subject]
    assert len(letters) == 1 and "副总经理" in letters[0]
    assert not any("投诉处理结果" in m.subject for m in driver.mails("customer@example.com") if number in m.subject)
    view = driver.case(number)
    assert any(h["key"] == "immediate" for h in view["history"])  # counted as escalated at once in the report


def test_an_immediate_category_reaches_the_gm_at_once_who_acts_from_the_link(stack_env: Stack,
                                                                             driver: Driver) -> None:
    number = new_complaint(stack_env, "quality_safety")
    gate = driver.wait_for_gate(number, "complaint.first_response")
    mail, link = driver.link_for_gate("liu.yang", gate["id"])
    assert "已升级" in mail.subject
    view = driver.case(number)
    assert view["current_gate"]["assignee_role"] == "general_manager"
    assert view["escalations"][0]["reason"].startswith("category quality_safety")
    assert driver.answer(link, {"response": "总经理已亲自致电客户"}).status_code == 200
    driver.wait_for_gate(number, "complaint.acceptance")


def test_a_rejected_conclusion_reopens_a_new_record_with_the_old_one_attached(stack_env: Stack,
                                                                              driver: Driver) -> None:
    number = new_complaint(stack_env)
    first_response(driver, number)
    accept(driver, number)
    investigate(driver, number, measures=measures("none"))
    driver.answer_gate(number, "complaint.customer_sign_off", "customer@example.com",
                       {"accept": "false", "reason": "我要求退款"})
    view = driver.wait_for_status(number, "reopened")
    reopened = view["data"]["reopened_as"]
    new = driver.case(reopened)
    assert new["procedure"] == "complaint" and new["data"]["attached_record"] == number
    assert new["data"]["rejection"] == "我要求退款"
    driver.wait_for_gate(reopened, "complaint.first_response")


def test_an_unfounded_complaint_is_closed_politely_and_sales_collects_the_receivable(stack_env: Stack,
                                                                                     driver: Driver) -> None:
    number = new_complaint(stack_env, "staff_attitude")
    first_response(driver, number)
    accept(driver, number)
    driver.answer_gate(number, "complaint.verification", "zhou.qiang",
                       {"substantiated": "false", "findings": "录音显示服务人员态度正常"})
    view = driver.wait_for_status(number, "unfounded")
    assert view["closed_at"]
    assert any("核实结果" in m.subject for m in driver.mails("customer@example.com") if number in m.subject)
    # 004:483: sales collects the receivable within the normal period.
    assert any("receivable" in m.subject for m in driver.mails("anna.schmidt@example.com") if number in m.subject)
