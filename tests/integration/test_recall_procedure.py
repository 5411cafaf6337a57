"""The recall procedure's work outside its flow, on a real SQLite database and SMTP sink with a controlled clock:
intake refusals, the quality-safety report from a case, child cases per unit with the unit's customer in bounded
passes, and the sweep's watchers (the aggregate acknowledgement wait, the regulatory clocks, progress reports)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlmodel import select

from aftersales.cases import store as cases
from aftersales.cases.intake import IntakeRefused, register_case
from aftersales.config.settings import Settings
from aftersales.gates import lifecycle
from aftersales.messaging.mailsink import MailSink
from aftersales.recall import case as recall_case
from aftersales.recall.outbox import NOTICES, UnitSelection, build_outbox
from aftersales.recall.units import UnitRow, write_units
from aftersales.runtime.db import get_engine, session_scope
from models import Case, CaseCreate, Gate, MailboxMessage, RecallUnit

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTICED = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday
SOLD = date(2026, 3, 1)
RECALL = {"origin": "outside_notice", "hazard": "过热", "manufacturer": "OEM Co.",
          "selection": {"batches": ["L1"]}}


def register_units(n: int = 6) -> None:
    write_units([UnitRow(serial=f"SN-{i:03d}", batch=("L1", "L2")[i % 2], product_model="PT-3000",
                         customer_ref=f"C{i:03d}", customer_name=f"客户{i}", customer_email=f"c{i}@example.com",
                         customer_phone=f"1390000{i:04d}", language="en" if i % 2 else "zh", sale_date=SOLD)
                 for i in range(n)], source="test")


def recall_request(**recall: object) -> CaseCreate:
    return CaseCreate.model_validate({
        "procedure": "recall", "customer_name": "OEM Co.", "customer_phone": "02188886666",
        "customer_email": "oem@example.com", "product_model": "PT-3000", "problem_description": "原厂召回通知",
        "channel": "email", "reported_at": NOTICED.isoformat(), "recall": {**RECALL, **recall}})


def open_recall() -> str:
    case, _ = register_case(recall_request(), start=False)
    assert case.number is not None
    return case.number


def case_count() -> int:
    with session_scope() as session:
        return len(session.exec(select(Case)).all())


def test_a_recall_selecting_no_registered_unit_is_refused_at_intake_and_nothing_is_stored(settings: Settings) -> None:
    register_units()
    with pytest.raises(IntakeRefused, match="no registered unit of PT-3000"):
        register_case(recall_request(selection={"batches": ["L9"]}), start=False)
    with pytest.raises(ValidationError, match="serial_from and serial_to"):
        recall_request(selection={"serial_from": "SN-001"})
    with pytest.raises(ValidationError, match="origin"):
        recall_request(origin="rumour")
    assert case_count() == 0


def test_a_quality_safety_report_opens_one_linked_recall_or_is_refused_with_nothing_opened(
        settings: Settings, no_prefect: str) -> None:
    register_units()
    repair = cases.open_case(CaseCreate(procedure="repair", customer_name="王", customer_phone="13900000000",
                                        product_model="PT-3000", serial_number="SN-000", problem_description="冒烟"))
    assert repair.number is not None
    with pytest.raises(ValueError, match="no registered unit"):
        recall_case.report_quality_safety(repair.number, "冒烟", {"batches": ["L9"], "product_model": "PT-3000"})
    assert case_count() == 1
    first = recall_case.report_quality_safety(repair.number, "冒烟", {"batches": ["L1"], "product_model": "PT-3000"})
    again = recall_case.report_quality_safety(repair.number, "冒烟", {"batches": ["L1"], "product_model": "PT-3000"})
    assert first.number == again.number and first.procedure == "recall" and first.parent_case_id == repair.id
    assert first.data["recall"]["origin"] == "quality_safety_report"
    assert first.data["recall"]["reported_by_case"] == repair.number


def test_each_unit_opens_its_own_case_with_its_customer_a_bounded_number_per_pass(
        settings: Settings, no_prefect: str) -> None:
    register_units()
    number = open_recall()
    build_outbox(number, UnitSelection(product_model="PT-3000", batches=["L1"]))
    first = recall_case.open_unit_cases(number, ["SN-000", "SN-002", "SN-001", "SN-004"], "exchange", "过热", limit=2)
    assert list(first.opened) == ["SN-000", "SN-002"] and first.queued == ["SN-004"]
    assert first.unknown == ["SN-001"], "SN-001 is in batch L2, which this recall does not cover"
    again = recall_case.open_unit_cases(number, ["SN-000", "SN-004"], "exchange", "过热", limit=2)
    assert again.opened["SN-000"] == first.opened["SN-000"], "a unit's case opens once"
    with session_scope() as session:
        child = cases.get_case(session, first.opened["SN-002"])
        units = {u.serial: u for u in session.exec(select(RecallUnit).where(RecallUnit.recall == number)).all()}
    assert (child.procedure, child.customer_name, child.customer_email, child.serial_number, child.language) == (
        "exchange", "客户2", "c2@example.com", "SN-002", "zh")
    assert child.data["goods"]["reason"] == "defect" and child.data["recall"] == number
    assert (units["SN-002"].remedy, units["SN-002"].remedy_state, units["SN-002"].child_case) == (
        "exchange", "opened", child.number)


def test_the_sweep_ends_the_acknowledgement_wait_once_at_the_threshold(settings: Settings) -> None:
    register_units()
    number = open_recall()
    build_outbox(number, UnitSelection(product_model="PT-3000", batches=["L1"]))  # 3 customers
    recall_case.start_clocks(number, "CN", "I", NOTICED)
    recall_case.ack_wait_until(number, NOTICED)
    with session_scope() as session:
        case = cases.get_case(session, number)
    assert case.id is not None
    gate_id = lifecycle.open_gate(case_id=case.id, key="acknowledgements", kind="recall.acknowledgements",
                                  input_model="RecallAcknowledgementsInput", flow_run_id=None, summary=[],
                                  now=NOTICED)
    with get_engine().begin() as conn:
        conn.execute(NOTICES.update().where(NOTICES.c.recall == number).values(status="sent"))
        conn.execute(NOTICES.update().where(NOTICES.c.customer_ref.in_(["C000", "C002"]))
                     .values(acknowledged_at=NOTICED))
    assert recall_case.acknowledgement_waits(NOTICED + timedelta(hours=1)) == [], "2 of 3 is below 80 %"
    with get_engine().begin() as conn:
        conn.execute(NOTICES.update().where(NOTICES.c.customer_ref == "C004").values(acknowledged_at=NOTICED))
    assert recall_case.acknowledgement_waits(NOTICED + timedelta(hours=2)) == [case.id]
    assert recall_case.acknowledgement_waits(NOTICED + timedelta(hours=3)) == [], "answered once"
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
    assert gate is not None and gate.status == "answered" and gate.answered_by == "sweep"
    assert gate.answer == {"acknowledged": 3, "notified": 3, "reason": "80% acknowledged", "comment": ""}


def test_the_clocks_remind_escalate_and_report_progress_once_each(settings: Settings) -> None:
    register_units()
    number = open_recall()
    build_outbox(number, UnitSelection(product_model="PT-3000", batches=["L1"]))
    clocks = recall_case.start_clocks(number, "EU", "I", NOTICED)
    notify_by = datetime.fromisoformat(clocks["notify_by"])
    assert notify_by == datetime(2026, 11, 5, 0, 0, tzinfo=SHANGHAI), "EU class I: 2 days, awareness = day 0"
    sink = MailSink(settings.smtp_host, settings.smtp_port)
    with sink:
        assert recall_case.regulatory_clocks(NOTICED + timedelta(hours=1)) == []
        reminded = recall_case.regulatory_clocks(NOTICED + timedelta(days=1, hours=8))
        breached = recall_case.regulatory_clocks(notify_by + timedelta(minutes=1))
        assert recall_case.regulatory_clocks(notify_by + timedelta(minutes=2)) == []
        assert len(reminded) == 1 and len(breached) == 1
        assert recall_case.progress_reports(NOTICED + timedelta(days=6)) == []
        assert len(recall_case.progress_reports(NOTICED + timedelta(days=7, hours=1))) == 1
        assert recall_case.progress_reports(NOTICED + timedelta(days=7, hours=2)) == []
    with session_scope() as session:
        subjects = [m.subject for m in session.exec(select(MailboxMessage)).all()]
    assert any("regulatory deadline" in s or "法规期限" in s for s in subjects), subjects


def test_the_regulators_reports_and_the_closing_report_print_in_chinese_and_english(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from aftersales.web.app import create_app
    from tests.signin import sign_in

    register_units()
    number = open_recall()
    build_outbox(number, UnitSelection(product_model="PT-3000", batches=["L1"]))
    recall_case.start_clocks(number, "CN", "II", NOTICED)
    cases.update_case(number, data={"plan": {"plan": "免费更换温控器", "remedy": "repair"}})
    report = recall_case.closing_report(number, {"disposal": "返原厂报废", "completed_on": "2026-12-01"},
                                        NOTICED + timedelta(days=30))
    assert (report["to_notify"], report["notified"], report["to_recall"], report["recalled"]) == (3, 0, 3, 0)
    cases.update_case(number, data={"closing_report": report})
    web = TestClient(create_app())
    sign_in(web)
    plan = web.get(f"/cases/{number}/forms/RECALL-PLAN")
    assert plan.status_code == 200 and "召回计划" in plan.text and "免费更换温控器" in plan.text and "II" in plan.text
    closing = web.get(f"/cases/{number}/forms/RECALL-CLOSE?lang=en").text
    assert "Recall closing report" in closing and "返原厂报废" in closing and "2026-12-01" in closing
    assert web.get(f"/cases/{number}/forms/RECALL-NOPE").status_code == 404


def test_a_us_recall_owes_an_fda_status_report_each_period_reminded_escalated_and_ended_at_closing(
        settings: Settings) -> None:
    from aftersales.config.policy import get_policy
    from aftersales.gates.links import answer_by_link
    from aftersales.sla.deadlines import due
    from aftersales.sla.sweep import sweep

    register_units()
    us, cn = open_recall(), open_recall()
    for number, market in ((us, "US"), (cn, "CN")):
        build_outbox(number, UnitSelection(product_model="PT-3000", batches=["L1"]))
        recall_case.start_clocks(number, market, "II", NOTICED)
    with session_scope() as session:
        us_id = cases.get_case(session, us).id
    policy = get_policy()
    every = policy.recall.markets["US"].status_report_every
    assert every is not None and (every.amount, every.unit) == (14, "natural_days"), "21 CFR 7.53: 2-4 weeks"
    first_due = due(policy, NOTICED, every)

    def status_gates() -> dict[str, Gate]:
        with session_scope() as session:
            return {g.key: g for g in session.exec(select(Gate).where(Gate.kind == "recall.status_report")).all()}

    with MailSink(settings.smtp_host, settings.smtp_port):
        # Period 1 opens with the decision (the CN recall owes none); once, however often the sweep runs.
        assert recall_case.status_reports(NOTICED + timedelta(hours=1)) == [us_id]
        assert recall_case.status_reports(NOTICED + timedelta(hours=2)) == []
        first = status_gates()["status_report#1"]
        assert (first.case_id, first.status, first.deadline_at, first.assignee_role) == (
            us_id, "waiting", first_due, "quality_inspection")
        # The gates' own sweep reminds it before its deadline and escalates it at breach; the next period opens.
        assert first.id in sweep(first.remind_at + timedelta(minutes=1), resend=False, resume=False).reminded
        late = sweep(first_due + timedelta(minutes=1), resend=False, resume=False)
        assert first.id in late.escalated and late.watched["recall.status_reports"] == [us_id]
        second = status_gates()["status_report#2"]
        assert second.deadline_at == due(policy, first_due, every)
        with session_scope() as session:
            mails = session.exec(select(MailboxMessage)).all()
            # the newest link (a request's lives 14 days, the period too: the reminder brings a fresh one)
            link = [line for m in mails for line in (m.text or "").split() if f"/gates/{first.id}?t=" in line][-1]
        # Quality submits period 1 from the link (the web form's path, at the test's clock): no flow waits on it.
        gate = answer_by_link(first.id, link.split("t=", 1)[1], {"submitted_by": "孙丽", "reference": "FDA-Z-1",
                                                                 "submitted_on": "2026-11-17"},
                              now=first_due + timedelta(days=1))
        assert (gate.status, gate.answer["reference"]) == ("answered", "FDA-Z-1")
        report = recall_case.closing_report(us, {"disposal": "返原厂报废", "completed_on": "2026-11-20"},
                                            first_due + timedelta(days=3))
    # The closing report (the request to end the recall, 21 CFR 7.55) ends the running period's report.
    assert report["status_reports"] == {"submitted": 1, "ended": 1}
    assert {k: g.status for k, g in status_gates().items()} == {"status_report#1": "answered",
                                                                "status_report#2": "ended"}


def test_periods_the_sweep_missed_whole_still_open_their_status_reports_already_due(settings: Settings) -> None:
    from aftersales.config.policy import get_policy
    from aftersales.sla.deadlines import due
    from aftersales.sla.sweep import sweep

    register_units()
    us = open_recall()
    build_outbox(us, UnitSelection(product_model="PT-3000", batches=["L1"]))
    recall_case.start_clocks(us, "US", "II", NOTICED)
    policy = get_policy()
    every = policy.recall.markets["US"].status_report_every
    assert every is not None
    ends = [due(policy, NOTICED, every)]
    for _ in range(2):
        ends.append(due(policy, ends[-1], every))
    back = ends[1] + timedelta(days=1)  # the sweep was down through periods 1 and 2; period 3 runs

    with MailSink(settings.smtp_host, settings.smtp_port):
        assert len(recall_case.status_reports(back)) == 1
        assert recall_case.status_reports(back + timedelta(hours=1)) == []  # once
        with session_scope() as session:
            gates = {g.key: g for g in session.exec(select(Gate).where(Gate.kind == "recall.status_report")).all()}
        assert {k: g.deadline_at for k, g in gates.items()} == {
            "status_report#1": ends[0], "status_report#2": ends[1], "status_report#3": ends[2]}
        # The missed ones are owed and late: the gates' next sweep escalates them, not the running one.
        late = sweep(back + timedelta(minutes=2), resend=False, resume=False)
    assert {gates["status_report#1"].id, gates["status_report#2"].id} <= set(late.escalated)
    assert gates["status_report#3"].id not in late.escalated
