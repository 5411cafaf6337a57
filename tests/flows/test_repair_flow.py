"""A repair case driven through every gate by following the links in the e-mails, on a real Prefect API."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from aftersales.config.policy import get_policy
from aftersales.runtime.db import session_scope
from aftersales.runtime.stack import Stack
from aftersales.sla.deadlines import calendar_for, due
from aftersales.sla.sweep import sweep
from models import Gate
from tests.flows.conftest import new_case
from tests.flows.driver import Driver
from tests.signin import session_cookie

pytestmark = pytest.mark.stack

TRIAGE = {"urgent": "false", "complexity": "general", "man_made_damage": "false", "warranty": "auto",
          "remote_possible": "true"}


def assert_no_message_twice(driver: Driver, number: str) -> None:
    """Every message of the case reached each recipient once (a replayed flow sends nothing again)."""
    mails = [(m.rcpt_to, m.subject, m.text) for m in driver.mails() if number in m.subject]
    twice = [key[:2] for key, count in Counter(mails).items() if count > 1]
    assert not twice, f"sent twice: {twice}"


def open_the_visit_on_day_5(driver: Driver, number: str) -> None:
    """The follow-up visit is scheduled at hand-over and sent from day 5 (F2:79, figures of F2:60): before, no
    link exists; a sweep on the controlled clock at day 5 opens it (the flow stays suspended meanwhile)."""
    end = time.monotonic() + 90
    while not (visit := [g for g in driver.case(number)["gates"] if g["kind"] == "repair.follow_up"]):
        assert time.monotonic() < end, "the visit was never scheduled"
        time.sleep(0.5)
    acceptance = [g for g in driver.case(number)["gates"] if g["kind"] == "repair.acceptance"][-1]
    handed_over = datetime.fromisoformat(acceptance["answered_at"])
    assert visit[0]["status"] == "scheduled"
    assert datetime.fromisoformat(visit[0]["opened_at"]) == handed_over + timedelta(days=5)
    assert datetime.fromisoformat(visit[0]["deadline_at"]) == handed_over + timedelta(days=7)
    assert not driver.mails("li.na@example.com") or all(
        f"/gates/{visit[0]['id']}?" not in link for m in driver.mails("li.na@example.com") for link in m.links())
    assert sweep(handed_over + timedelta(days=5, minutes=1), resend=False, resume=False).opened == [visit[0]["id"]]


def the_customer_took_eleven_days(gate_id: int) -> datetime:
    """Move the opening of a customer gate 11 days back, as if the customer had taken that long to answer (a long
    enough span to hold working time whatever day the test runs); returns the new opening."""
    asked = datetime.now(UTC) - timedelta(days=11)
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None and gate.customer_gate and gate.status == "waiting"
        gate.opened_at = asked
        session.add(gate)
    return asked


def test_paid_factory_return_repair_passes_every_gate_from_the_links(stack_env: Stack, driver: Driver) -> None:
    reported = datetime.now(UTC) - timedelta(days=12)
    number = new_case(stack_env, purchase_date=(date.today() - timedelta(days=4 * 365)).isoformat(),
                      reported_at=reported.isoformat())
    received = driver.wait_for_link("li.na@example.com", number)[0]
    assert "待您处理" in received.subject
    assert "13900000000" not in received.text, "staff messages must not carry the customer's phone"

    driver.answer_gate(number, "repair.triage", "li.na", TRIAGE)
    driver.answer_gate(number, "repair.remote_diagnosis", "zhang.wei", {"solved": "false", "diagnosis": "主板故障"})
    driver.answer_gate(number, "repair.plan", "zhang.wei",
                       {"mode": "factory_return", "plan": "返厂更换主板", "fee": "300"})
    driver.answer_gate(number, "repair.finance_audit", "zhao.min",
                       {"approved": "true", "audited_fee": "280", "settlement_method": "bank_transfer"})
    asked = the_customer_took_eleven_days(driver.wait_for_gate(number, "repair.quote_confirmation")["id"])
    quote = driver.answer_gate(number, "repair.quote_confirmation", "customer@example.com",
                               {"accept": "true", "signature_name": "测试客户"})
    driver.answer_gate(number, "repair.warehouse_receipt", "wu.lei", {"received": "true", "receipt_number": "WH-1"})
    record = {"fault_found": "主板电容鼓包", "cause": "元件老化", "work_done": "更换电容", "hours": "2",
              "technician": "周强"}
    first_record = driver.answer_gate(number, "repair.repair_record", "zhou.qiang", record)
    # The resolution clock (3 working days from the request, F1:164) stood still while the customer weighed the
    # quote: the repair's deadline moved by the working time of that wait (PRODUCT.md "Time", policy clocks).
    policy, answered = get_policy(), next(g for g in driver.case(number)["gates"] if g["id"] == quote["id"])
    paused = calendar_for(policy).working_time_between(asked, datetime.fromisoformat(answered["answered_at"]))
    assert paused > timedelta(0)
    first_deadline = due(policy, reported, policy.repair.sla["resolution"])
    assert datetime.fromisoformat(first_record["deadline_at"]) == calendar_for(policy).add_working_hours(
        first_deadline, paused.total_seconds() / 3600)
    driver.answer_gate(number, "repair.ageing", "zhou.qiang", {"hours": "24", "passed": "true"})
    driver.answer_gate(number, "repair.qa_test", "sun.li", {"passed": "false", "report": "显示偶发闪烁"})
    # A failed QA test goes back to repair (F2:441, policy max_qa_rounds).
    driver.answer_gate(number, "repair.repair_record", "zhou.qiang", {**record, "work_done": "更换屏幕排线"})
    driver.answer_gate(number, "repair.ageing", "zhou.qiang", {"hours": "24", "passed": "true"})
    driver.answer_gate(number, "repair.qa_test", "sun.li", {"passed": "true", "report": "全功能测试通过"})
    driver.answer_gate(number, "repair.acceptance", "customer@example.com",
                       {"accepted": "true", "signature_name": "测试客户"})
    driver.answer_gate(number, "repair.survey", "customer@example.com", {"score": "4", "comment": "还行"})
    open_the_visit_on_day_5(driver, number)
    driver.answer_gate(number, "repair.follow_up", "li.na",
                       {"contacted": "true", "visited_on": date.today().isoformat(), "notes": "使用正常"})

    view = driver.wait_for_status(number, "closed")
    assert view["data"]["fee"] == 280
    assert view["data"]["warranty"] == "out_of_warranty"
    kinds = [g["kind"] for g in view["gates"]]
    assert kinds.count("repair.qa_test") == 2 and kinds.count("repair.repair_record") == 2
    assert all(g["answered_via"] == "link" for g in view["gates"])
    assert any("FORM-MA-076" in h["summary"] for h in view["history"])
    # The five departments got the 返修申请单 notice (F2:432).
    assert driver.mails("anna.schmidt@example.com")
    for code in ("FORM-MA-076", "FORM-MA-077"):
        page = httpx.get(f"{stack_env.config.web_url}/cases/{number}/forms/{code}", timeout=30,
                         cookies=session_cookie())
        assert page.status_code == 200 and code in page.text and number in page.text
    assert "更换屏幕排线" in httpx.get(f"{stack_env.config.web_url}/cases/{number}/forms/FORM-MA-077",
                                  cookies=session_cookie()).text
    assert_no_message_twice(driver, number)


def test_free_repair_of_customers_damage_needs_the_gm_and_reports_progress(stack_env: Stack,
                                                                            driver: Driver) -> None:
    number = new_case(stack_env)
    driver.answer_gate(number, "repair.triage", "li.na", {**TRIAGE, "man_made_damage": "true",
                                                          "remote_possible": "false"})
    driver.answer_gate(number, "repair.plan", "zhang.wei", {"mode": "on_site", "plan": "上门更换外壳", "fee": "0",
                                                            "appointment": "周三 10:00"})
    driver.answer_gate(number, "repair.gm_free_repair", "liu.yang", {"approved": "true", "comment": "老客户"})
    driver.answer_gate(number, "repair.execution", "zhang.wei", {"done": "false", "work_done": "已拆机,等配件"})
    driver.answer_gate(number, "repair.execution", "zhang.wei", {"done": "true", "work_done": "已更换外壳"})
    driver.answer_gate(number, "repair.acceptance", "customer@example.com",
                       {"accepted": "true", "signature_name": "测试客户"})
    # A score of 2 (policy low_satisfaction_at_most, F2:283-284) gives the supervisor a follow-up of its own.
    driver.answer_gate(number, "repair.survey", "customer@example.com", {"score": "2", "comment": "等太久"})
    driver.answer_gate(number, "repair.low_satisfaction", "chen.jing",
                       {"contacted_customer": "true", "improvement": "配件备货不足,已增加库存"})
    open_the_visit_on_day_5(driver, number)
    visit = {"contacted": "true", "visited_on": date.today().isoformat()}
    driver.answer_gate(number, "repair.follow_up", "li.na", visit)
    view = driver.wait_for_status(number, "closed")
    assert view["data"]["customer_responsibility"] is True
    assert view["data"]["low_satisfaction"]["improvement"] == "配件备货不足,已增加库存"
    customer_subjects = [m.subject for m in driver.mails("customer@example.com") if number in m.subject]
    assert any("维修进度" in s for s in customer_subjects), customer_subjects
    assert any("维修已安排" in s for s in customer_subjects), customer_subjects
    assert_no_message_twice(driver, number)
