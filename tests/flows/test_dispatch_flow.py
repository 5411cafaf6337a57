"""Off-site repair dispatch driven from the e-mailed links on a real Prefect stack (spec §6, WI 5.5-5.8).

Waits in parallel (the method's voices, the preparations before departure) and the recurring daily report run
through the real gate layer; days pass by running the sweep with a later clock, never by sleeping.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aftersales.runtime.stack import Stack
from aftersales.sla.destination import destination_calendar
from aftersales.sla.sweep import sweep
from tests.flows.conftest import new_case
from tests.flows.driver import Driver

pytestmark = pytest.mark.stack

TODAY = date.today()
BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ON_SITE = {"method": "on_site"}
TRIAGE = {"urgent": "false", "complexity": "general", "man_made_damage": "false", "warranty": "auto",
          "remote_possible": "false"}


def three_working_days(country: str, tz: str) -> date:
    """A departure day at least two weeks ahead followed by two working days at the destination (no holiday)."""
    calendar = destination_calendar(country, tz)
    day = TODAY + timedelta(days=14)
    while not all(calendar.is_working_day(day + timedelta(days=n)) for n in range(3)):
        day += timedelta(days=1)
    return day


def answer(driver: Driver, number: str, key: str, to: str, fields: dict[str, Any], timeout: float = 90) -> dict:
    """Wait until the case waits on the gate `key`, then answer it from the link `to` received."""
    end = time.monotonic() + timeout
    while True:
        found = [g for g in driver.case(number)["waiting_gates"] if g["key"] == key]
        if found:
            break
        if time.monotonic() > end:
            raise AssertionError(f"{number} never waited on {key}: {driver.case(number)['waiting_gates']}")
        time.sleep(0.5)
    _, link = driver.link_for_gate(to, found[0]["id"])
    response = driver.answer(link, {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()})
    assert response.status_code == 200, response.text[:2000]
    return found[0]


def decide_and_plan(driver: Driver, number: str) -> None:
    """Four required voices in parallel (002:425-427), the GM's free repair, the plan and the team (5.5.1)."""
    answer(driver, number, "method_quality", "sun.li", ON_SITE)
    answer(driver, number, "method_rnd", "anna.schmidt", ON_SITE)
    answer(driver, number, "method_engineering", "zhou.qiang", {"method": "ship_back", "comment": "too heavy?"})
    answer(driver, number, "method_sales", "anna.schmidt", ON_SITE)  # the sales rep's choice stands
    answer(driver, number, "gm_free_repair", "liu.yang", {"approved": True})
    answer(driver, number, "plan", "zhou.qiang", {"sample_analysis": "主轴轴承失效",
                                                  "work_instruction": "更换轴承,校准", "team": "周强, 李工"})


def report(driver: Driver, number: str, day: date, fields: dict[str, Any]) -> None:
    answer(driver, number, f"daily_report@{day.isoformat()}", "zhou.qiang", fields)


def wait_for_daily_reports(driver: Driver, number: str) -> None:
    """Until the flow has opened its recurring wait (the sweep then opens each day)."""
    end = time.monotonic() + 90
    while not any(e["key"] == "series:daily_report:opened" for e in driver.case(number)["history"]):
        assert time.monotonic() < end, "the flow never waited on the daily reports"
        time.sleep(0.5)


def of_case(driver: Driver, number: str, gate_ids: list[int]) -> list[int]:
    """The gates of this case among a sweep's: the stack is shared, and a sweep weeks ahead acts on every case."""
    mine = {g["id"] for g in driver.case(number)["gates"]}
    return [gate_id for gate_id in gate_ids if gate_id in mine]


def case_at_status(driver: Driver, number: str, status: str) -> dict:
    return driver.wait_for_status(number, status, timeout=120)


def decide(driver: Driver, number: str, method: str) -> None:
    """The four voices; the sales rep's choice stands (002:425-427)."""
    for key, person in (("method_quality", "sun.li"), ("method_rnd", "anna.schmidt"),
                        ("method_engineering", "zhou.qiang")):
        answer(driver, number, key, person, ON_SITE)
    answer(driver, number, "method_sales", "anna.schmidt", {"method": method})


def test_an_overseas_dispatch_waits_for_every_branch_and_chases_late_material_and_missed_reports(
        stack_env: Stack, driver: Driver) -> None:
    ready_by = TODAY + timedelta(days=1)
    number = new_case(stack_env, procedure="dispatch", problem_description="生产线停机", dispatch={
        "overseas": True, "country": "DE", "timezone": "Europe/Berlin", "site": "Werk 2, Stuttgart",
        "visa_needs_invitation": True, "materials": [
            {"name": "主轴轴承", "quantity": 2, "source": "stock"},
            {"name": "Hydraulic oil", "quantity": 20, "source": "customer", "ready_by": ready_by.isoformat()}]})
    decide_and_plan(driver, number)
    # Every preparation is asked at once, each of its own owner; the customer is told the ready-by date.
    answer(driver, number, "material#1", "wu.lei", {"ready": True})
    answer(driver, number, "carriage", "zhou.qiang", {"mode": "hand_carry", "checked": True})
    answer(driver, number, "tools", "zhou.qiang", {"tools": "扭力扳手, 示波器", "confirmed_with_customer": True})
    answer(driver, number, "purchases", "wu.lei", {"arrived": True})
    answer(driver, number, "visas", "anna.schmidt", {"granted": True})
    answer(driver, number, "invitation", "anna.schmidt", {"approved": True})
    # The customer's oil is not ready by its date: the sweep chases the sales rep (002:450).
    late = datetime.combine(ready_by, datetime.min.time(), tzinfo=BERLIN) + timedelta(hours=17, minutes=31)
    sweep(late, resend=False, resume=False)
    view = driver.case(number)
    oil = next(g for g in view["gates"] if g["key"] == "material#2")
    assert oil["kind"] == "dispatch.customer_material" and oil["rung"] == 1 and oil["assignee_role"] == "sales_rep"
    assert not any(g["kind"] == "dispatch.departure" for g in view["gates"])  # departure waits for every branch
    answer(driver, number, "material#2", "customer@example.com", {"ready": True, "comment": "oil arrived late"})
    departs = three_working_days("DE", "Europe/Berlin")
    answer(driver, number, "departure", "anna.schmidt", {"departs_on": departs.isoformat(),
                                                         "bookings": "LH 721, Hotel am Park"})

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(departs + timedelta(days=days), datetime.min.time(), tzinfo=BERLIN) + \
            timedelta(hours=hour, minutes=minute)

    wait_for_daily_reports(driver, number)
    sweep(at(0, 9), resend=False, resume=False)
    report(driver, number, departs, {"progress": "spindle dismantled"})
    sweep(at(1, 9), resend=False, resume=False)  # day 2 opens; no report comes
    missed = sweep(at(2, 8, 31), resend=False, resume=False)
    assert len(of_case(driver, number, missed.escalated)) == 1 and len(of_case(driver, number, missed.days_opened)) == 1
    again = sweep(at(2, 9), resend=False, resume=False)
    assert of_case(driver, number, again.escalated) == []  # once, not at every sweep
    report(driver, number, departs + timedelta(days=2), {"progress": "bearing replaced, run test passed",
                                                          "done": True})
    answer(driver, number, "improvement", "sun.li", {"measures": "来料检验加严", "company_at_fault": True,
                                                     "incident_report": "轴承批次不良, 已追溯供应商"})
    answer(driver, number, "costs", "anna.schmidt", {"a_material": 1200, "b_travel": 8600.5, "c_depreciation": 300,
                                                     "d_service_fee": 0})
    answer(driver, number, "cost_audit", "zhao.min", {"approved": True, "audited_fee": 10100.5})
    view = case_at_status(driver, number, "completed")
    assert view["data"]["cost_total"] == 10100.5
    reports = next(h for h in view["history"] if h["key"] == "on_site_done")["data"]["reports"]
    assert [r["status"] for r in reports] == ["answered", "ended", "answered"]
    assert len(view["escalations"]) == 2, view["escalations"]  # the late oil and the missed day, each once
    assert {x["to_role"] for x in view["escalations"]} == {"sales_rep", "after_sales_manager"}
    assert any("Hydraulic oil" in m.text for m in driver.mails("customer@example.com"))


def test_a_repair_sent_off_site_hands_over_to_a_domestic_dispatch_that_skips_the_visa_branches(
        stack_env: Stack, driver: Driver) -> None:
    # The repair's plan step sends the team off site (002:425-426): sales says where, the repair ends on the dispatch.
    repair = new_case(stack_env, problem_description="设备异响")
    driver.answer_gate(repair, "repair.triage", "li.na", {**TRIAGE, "man_made_damage": "true"})  # the customer's
    driver.answer_gate(repair, "repair.plan", "zhang.wei", {"mode": "dispatch", "plan": "现场更换皮带", "fee": "0"})
    _, link = driver.link_for_gate("anna.schmidt", driver.wait_for_gate(repair, "repair.dispatch_facts")["id"])
    refused = driver.answer(link, {"overseas": "true", "country": "CN", "site": "苏州工业园区"})
    assert refused.status_code == 422 and "go abroad" in refused.text
    assert driver.case(repair)["status"] == "open" and "linked_cases" not in driver.case(repair)["data"]
    assert driver.answer(link, {"overseas": "false", "country": "CN", "timezone": "Asia/Shanghai",
                                "site": "苏州工业园区"}).status_code == 200
    handed_over = case_at_status(driver, repair, "dispatched")
    number = handed_over["data"]["linked_cases"][0]
    opened = driver.case(number)
    assert opened["procedure"] == "dispatch" and opened["parent_case_id"] is not None
    assert opened["data"]["dispatch"]["from_case"] == repair
    assert opened["data"]["dispatch"]["customer_responsibility"] is True  # carried over: a paid repair (002:428)
    assert any(number in m.text for m in driver.mails("customer@example.com") if repair in m.subject)
    decide(driver, number, "on_site")
    answer(driver, number, "fee_agreement", "anna.schmidt", {"fee": 3000, "settlement_method": "bank_transfer",
                                                             "quality_responsibility": "维修部位保修3个月"})
    answer(driver, number, "finance_audit", "zhao.min", {"approved": True, "audited_fee": 3000})
    answer(driver, number, "plan", "zhou.qiang", {"sample_analysis": "皮带老化", "work_instruction": "更换皮带",
                                                  "team": "周强"})
    answer(driver, number, "carriage", "zhou.qiang", {"mode": "shipped", "checked": True})
    answer(driver, number, "tools", "zhou.qiang", {"tools": "扳手", "confirmed_with_customer": True})
    answer(driver, number, "purchases", "wu.lei", {"arrived": True})
    departs = three_working_days("CN", "Asia/Shanghai")
    answer(driver, number, "departure", "anna.schmidt", {"departs_on": departs.isoformat(), "bookings": "高铁"})
    wait_for_daily_reports(driver, number)
    sweep(datetime.combine(departs, datetime.min.time(), tzinfo=SHANGHAI) + timedelta(hours=9), resend=False,
          resume=False)
    report(driver, number, departs, {"progress": "皮带已更换", "done": True})
    answer(driver, number, "improvement", "sun.li", {"measures": "提醒客户定期保养", "company_at_fault": False})
    answer(driver, number, "costs", "anna.schmidt", {"a_material": 80, "b_travel": 400, "c_depreciation": 20,
                                                     "d_service_fee": 3000})
    answer(driver, number, "cost_audit", "zhao.min", {"approved": True, "audited_fee": 3500})
    view = case_at_status(driver, number, "completed")
    kinds = {g["kind"] for g in view["gates"]}
    assert not kinds & {"dispatch.visas", "dispatch.invitation"}  # 5.6: no visa, invitation or customs
    assert view["data"]["cost_total"] == 3500


def test_a_dispatch_ships_the_unit_back_or_entrusts_a_local_agency_and_a_repair_plan_may_entrust_one_too(
        stack_env: Stack, driver: Driver) -> None:
    """The method decision's other two endings (002:426) and the repair plan's local agency: three cases at once,
    so their runs resume side by side."""
    site = {"overseas": False, "country": "CN", "timezone": "Asia/Shanghai"}
    back = new_case(stack_env, procedure="dispatch", problem_description="整机不开机",
                    dispatch={**site, "site": "昆山"})
    entrusted = new_case(stack_env, procedure="dispatch", problem_description="主轴异响",
                         dispatch={**site, "site": "乌鲁木齐"})
    repair = new_case(stack_env, problem_description="屏幕闪烁")
    decide(driver, back, "ship_back")
    decide(driver, entrusted, "local_agency")
    driver.answer_gate(repair, "repair.triage", "li.na", TRIAGE)
    driver.answer_gate(repair, "repair.plan", "zhang.wei", {"mode": "local_agency", "plan": "委托当地服务站更换屏幕",
                                                            "fee": "0"})
    answer(driver, entrusted, "local_agency", "anna.schmidt", {"agency": "乌鲁木齐精修机电", "repaired": True,
                                                                "result": "更换主轴轴承, 试运行正常"})
    answer(driver, repair, "local_agency#1", "zhang.wei", {"agency": "成都华信服务站", "repaired": True,
                                                           "result": "更换屏幕排线"})
    # Shipped back: the repair procedure's factory return, linked; the unit comes in, so no remote diagnosis.
    shipped = case_at_status(driver, back, "ship_back")
    returned = driver.case(shipped["data"]["repair_case"])
    assert returned["procedure"] == "repair" and returned["parent_case_id"] is not None
    assert returned["data"]["parent_number"] == back and returned["data"]["requested_mode"] == "factory_return"
    driver.answer_gate(returned["number"], "repair.triage", "li.na", {**TRIAGE, "remote_possible": "true"})
    driver.wait_for_gate(returned["number"], "repair.plan")
    gates = driver.case(returned["number"])["gates"]
    assert not any(g["kind"] == "repair.remote_diagnosis" for g in gates)
    # A local agency is recorded with its result: the dispatch ends on it, the repair goes on to the customer.
    closed = case_at_status(driver, entrusted, "local_agency")
    assert closed["data"]["local_agency"] == {"agency": "乌鲁木齐精修机电", "result": "更换主轴轴承, 试运行正常",
                                              "repaired": True}
    assert not any(g["kind"] == "dispatch.plan" for g in closed["gates"])  # no team sent
    driver.wait_for_gate(repair, "repair.acceptance")
    assert driver.case(repair)["data"]["local_agency"]["agency"] == "成都华信服务站"
