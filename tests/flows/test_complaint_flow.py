"""Complaints driven from the e-mailed links on a real Prefect stack (spec §5, 004:407-485)."""

from __future__ import annotations

from datetime import date

import pytest

from aftersales.runtime.stack import Stack
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.flows.test_repair_flow import assert_no_message_twice

pytestmark = pytest.mark.stack


def new_complaint(stack: Stack, category: str = "product_quality", **details: object) -> str:
    return new_case(stack, procedure="complaint", problem_description="维修后仍有异响",
                    complaint={"category": category, "customer_demand": "重新维修", "quantity": 2,
                               "defective_quantity": 1, **details})


def investigate(driver: Driver, number: str, *, solution: str, joint: bool = False, send_back: bool = False) -> None:
    """First response, verification (by the same handler), responsibility, countermeasures, approval, GM."""
    driver.answer_gate(number, "complaint.first_response", "li.na",
                       {"response": "已致电客户,正在调查", "needs_joint_inspection": str(joint).lower()})
    driver.answer_gate(number, "complaint.verification", "li.na", {"substantiated": "true", "findings": "轴承磨损"})
    if joint:
        driver.answer_gate(number, "complaint.joint_inspection", "sun.li",
                           {"inspected_on": date.today().isoformat(), "report": "现场确认异响"})
    driver.answer_gate(number, "complaint.responsibility", "sun.li",
                       {"responsible": "our_quality", "handling_method": "免费更换轴承"})
    measures = {"cause": "轴承批次不良", "countermeasures": "更换轴承并追溯批次", "solution": solution}
    if send_back:
        driver.answer_gate(number, "complaint.countermeasures", "zhou.qiang", measures)
        send_back_answer = {"approved": "false", "comment": "补充追溯"}
        driver.answer_gate(number, "complaint.manager_approval", "wang.fang", send_back_answer)
    driver.answer_gate(number, "complaint.countermeasures", "zhou.qiang", measures)
    driver.answer_gate(number, "complaint.manager_approval", "wang.fang", {"approved": "true"})
    driver.answer_gate(number, "complaint.gm_report", "liu.yang", {"acknowledged": "true", "instruction": "尽快处理"})


def test_a_complaint_passes_every_step_from_the_links_and_opens_a_linked_repair(stack_env: Stack,
                                                                                driver: Driver) -> None:
    number = new_complaint(stack_env)
    investigate(driver, number, solution="repair", joint=True, send_back=True)
    driver.answer_gate(number, "complaint.customer_sign_off", "customer@example.com", {"accept": "true"})
    driver.answer_gate(number, "complaint.follow_up", "li.na",
                       {"contacted": "true", "visited_on": date.today().isoformat(), "notes": "客户满意"})
    view = driver.wait_for_status(number, "closed")
    assert view["data"]["handler"] == "li.na" and view["data"]["responsibility"] == "our_quality"
    assert view["data"]["close_by"]
    [repair_number] = view["data"]["linked_cases"]
    repair = driver.case(repair_number)
    assert repair["procedure"] == "repair" and repair["parent_case_id"] is not None
    driver.wait_for_gate(repair_number, "repair.triage")  # the linked repair runs its own flow
    kinds = [g["kind"] for g in view["gates"]]
    assert kinds.count("complaint.countermeasures") == 2  # sent back once by the manager's office
    customer = [m.subject for m in driver.mails("customer@example.com") if number in m.subject]
    assert any("投诉处理结果" in s for s in customer), customer
    assert_no_message_twice(driver, number)


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
    driver.wait_for_gate(number, "complaint.verification")


def test_a_rejected_conclusion_reopens_a_new_record_with_the_old_one_attached(stack_env: Stack,
                                                                              driver: Driver) -> None:
    number = new_complaint(stack_env)
    investigate(driver, number, solution="none")
    driver.answer_gate(number, "complaint.customer_sign_off", "customer@example.com",
                       {"accept": "false", "reason": "我要求退款"})
    view = driver.wait_for_status(number, "reopened")
    reopened = view["data"]["reopened_as"]
    new = driver.case(reopened)
    assert new["procedure"] == "complaint" and new["data"]["attached_record"] == number
    assert new["data"]["rejection"] == "我要求退款"
    driver.wait_for_gate(reopened, "complaint.first_response")


def test_an_unfounded_complaint_is_closed_politely_and_recorded(stack_env: Stack, driver: Driver) -> None:
    number = new_complaint(stack_env, "staff_attitude")
    driver.answer_gate(number, "complaint.first_response", "li.na", {"response": "已了解情况"})
    driver.answer_gate(number, "complaint.verification", "li.na",
                       {"substantiated": "false", "findings": "录音显示服务人员态度正常"})
    view = driver.wait_for_status(number, "unfounded")
    assert view["closed_at"]
    assert any("核实结果" in m.subject for m in driver.mails("customer@example.com") if number in m.subject)
