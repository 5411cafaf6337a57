"""A class I recall on the real stack, end to end: opened by the original manufacturer's notice (F0:19), decided
by quality and the GM (an unknown market refused at the answer), its CN clocks on the case, 300 of 450 registered
units in two batches notified by the flow itself (the stack's mail sink receives each notice once), acknowledgements
from the links ending the one aggregate wait when the sweep sees 80 %, two units' child repair cases opened with
their own customers, compensation approved by finance and the GM, a progress report from the sweep, and the
ledger and the closing report right. Then a second recall whose worker is SIGKILLed in the middle of its fan-out:
the sweep's recovery runs it again, and nobody is notified twice.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from uuid import UUID

import httpx
import pytest
from sqlmodel import col, select

from aftersales.config.policy import get_policy
from aftersales.recall.clocks import recall_clocks
from aftersales.recall.fanout import outbox_counts
from aftersales.recall.units import UnitRow, write_units
from aftersales.runtime.db import session_scope
from aftersales.runtime.stack import Stack
from aftersales.sla.recovery import recover_runs
from aftersales.sla.sweep import sweep
from models import Case, RecallNotice
from tests.flows.driver import Driver
from tests.flows.faults import kill_flow_runs, mail_server_hung
from tests.signin import session_cookie

ACK = re.compile(r"https?://[^\s\"'<>]+/recall/ack\?t=([A-Za-z0-9_.\-]+)")
SUN, LIU, ZHAO, WANG, WU = (f"{p}@example.com" for p in ("sun.li", "liu.yang", "zhao.min", "wang.fang", "wu.lei"))


def test_a_class_i_recall_runs_from_the_notice_to_its_closing_report(stack_env: Stack, driver: Driver) -> None:
    sold = date.today() - timedelta(days=200)
    write_units([UnitRow(serial=f"SN-R{i:04d}", batch=("L-A", "L-B", "L-C")[i % 3], product_model="PT-3000",
                         customer_ref=f"R{i:04d}", customer_name=f"客户{i}", customer_email=f"r{i}@example.com",
                         language="en" if i % 2 else "zh", sale_date=sold) for i in range(450)], source="flow-test")
    http = httpx.Client(base_url=stack_env.config.web_url, timeout=60, cookies=session_cookie())  # operations
    customer = httpx.Client(base_url=stack_env.config.web_url, timeout=60)  # a link needs no sign-in
    facts = {"origin": "outside_notice", "hazard": "The heating element may overheat.", "manufacturer": "OEM Co.",
             "selection": {"batches": ["L-A", "L-B"]}}
    body = {"procedure": "recall", "customer_name": "原厂 OEM Co.", "customer_phone": "02188886666",
            "customer_email": "oem@example.com", "product_model": "PT-3000", "language": "zh",
            "problem_description": "原厂召回通知:加热元件过热", "channel": "email",
            "recall": facts}
    refused = http.post("/api/cases", json={**body, "recall": {**facts, "selection": {"batches": ["L-Z"]}}})
    assert refused.status_code == 422 and "no registered unit" in refused.text
    opened = http.post("/api/cases", json=body)
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.number == number)).one()

    driver.answer_gate(number, "recall.investigation", SUN, {"findings": "批次L-A/L-B温控器不良", "confirmed": "true"})
    gate = driver.wait_for_gate(number, "recall.decision_quality")
    _, link = driver.link_for_gate(SUN, gate["id"])
    mars = driver.answer(link, {"recall": "true", "recall_class": "I", "market": "MARS"})
    assert mars.status_code == 422 and "known: CN, EU, US" in mars.text, "an unknown market: refused, reason given"
    assert driver.case(number)["data"].get("clocks") is None
    assert driver.answer(link, {"recall": "true", "recall_class": "I", "market": "CN"}).status_code == 200
    driver.answer_gate(number, "recall.decision", LIU, {"recall": "true", "recall_class": "I", "market": "CN"})
    driver.answer_gate(number, "recall.plan", SUN, {"plan": "免费更换温控器", "remedy": "repair"})
    driver.answer_gate(number, "recall.plan_approval", LIU, {"approved": "true"})

    # The class I / CN clocks, counted from the notice: customers within 1 day, the event report at once.
    view = driver.case(number)
    clocks = view["data"]["clocks"]
    expected = recall_clocks(get_policy(), "CN", "I", datetime.fromisoformat(view["data"]["reported_at"]))
    assert (clocks["market"], clocks["recall_class"]) == ("CN", "I")
    assert datetime.fromisoformat(clocks["notify_by"]) == expected.notify_by
    assert datetime.fromisoformat(clocks["report_by"]) == expected.report_by == expected.aware_at

    # Born overdue (CN: the event report at once), the report's gate is escalated by the next sweep, but only once
    # quality was asked (sweep.awaiting_its_request): quality answers from its own link, still valid after that.
    reports = driver.wait_for_gate(number, "recall.regulator_reports")
    _, link = driver.link_for_gate(SUN, reports["id"], timeout=90)
    response = driver.answer(link, {"submitted_by": "孙丽", "reference": "沪药监-2026-17",
                                    "submitted_on": date.today().isoformat()})
    assert response.status_code == 200, response.text[:2000]
    driver.wait_for_gate(number, "recall.acknowledgements", timeout=180)
    view = driver.case(number)
    assert view["data"]["affected"] == {"units": 300, "customers": 300, "without_address": 0}
    notified_at = datetime.fromisoformat(view["data"]["notified_at"])
    assert notified_at <= datetime.fromisoformat(clocks["notify_by"]), "notified within the class's limit"
    notices = [m for m in driver.mails() if ACK.search(m.text or "")]
    assert Counter(m.rcpt_to for m in notices) == {f"r{i}@example.com": 1 for i in range(450) if i % 3 != 2}
    tokens = {m.rcpt_to: ACK.search(m.text).group(1) for m in notices}  # type: ignore[union-attr]

    # Acknowledgements are rows; the sweep ends the one wait at 80 % (240 of 300), not before.
    affected = [i for i in range(450) if i % 3 != 2]
    for i in affected[:200]:
        assert customer.post("/recall/ack", data={"t": tokens[f"r{i}@example.com"]}).status_code == 200
    assert sweep().watched["recall.acknowledgement_waits"] == []
    for i in affected[200:240]:
        assert customer.post("/recall/ack", data={"t": tokens[f"r{i}@example.com"]}).status_code == 200
    assert sweep().watched["recall.acknowledgement_waits"] == [case_id]

    driver.answer_gate(number, "recall.remedies", WANG, {"serials": "SN-R0000, SN-R0001 SN-NOPE", "finished": "true"})
    driver.answer_gate(number, "recall.compensation", SUN, {"amount": "5000", "basis": "误工补偿"})
    driver.answer_gate(number, "recall.compensation_finance", ZHAO, {"approved": "true"})
    driver.answer_gate(number, "recall.compensation_gm", LIU, {"approved": "true"})
    with session_scope() as session:
        children = session.exec(select(Case).where(Case.parent_case_id == case_id).order_by(col(Case.id))).all()
    assert [(c.procedure, c.serial_number, c.customer_email) for c in children] == [
        ("repair", "SN-R0000", "r0@example.com"), ("repair", "SN-R0001", "r1@example.com")]
    assert "SN-NOPE" in " ".join(h["summary"] for h in driver.case(number)["history"])

    driver.answer_gate(number, "recall.hand_over", WU, {"manufacturer": "OEM Co.", "units": "2",
                                                        "handed_over_on": date.today().isoformat()})
    decided = datetime.fromisoformat(clocks["decided_at"])
    assert sweep(decided + timedelta(days=7, hours=1), resend=False,
                 resume=False).watched["recall.progress_reports"] == [case_id]
    driver.answer_gate(number, "recall.effectiveness", SUN, {"level": "B", "sample_size": "20", "sample_aware": "19",
                                                             "sample_remedied": "2"})
    driver.answer_gate(number, "recall.closing", SUN, {"disposal": "返原厂报废",
                                                       "completed_on": date.today().isoformat()})
    view = driver.wait_for_status(number, "closed")

    report = view["data"]["closing_report"]
    assert (report["to_notify"], report["notified"], report["acknowledged"]) == (300, 300, 240)
    assert (report["to_recall"], report["recalled"], report["disposal"]) == (300, 2, "返原厂报废")
    assert view["data"]["compensation"] == {"amount": 5000.0, "basis": "误工补偿", "approved": True}
    acked = Counter(("L-A", "L-B")[i % 3] for i in affected[:240])
    csv_lines = http.get(f"/recalls/{number}/ledger.csv").text.splitlines()
    assert csv_lines[1:] == [f"{number},L-A,0,{150 - acked['L-A']},{acked['L-A']},0,0,150,0.0",
                             f"{number},L-B,0,{150 - acked['L-B']},{acked['L-B']},0,0,150,0.0",
                             f"{number},ALL,0,60,240,0,0,300,0.0"]
    closing = http.get(f"/cases/{number}/forms/RECALL-CLOSE?lang=en").text
    assert "Recall closing report" in closing and "返原厂报废" in closing
    assert "召回事件报告表" in http.get(f"/cases/{number}/forms/RECALL-EVENT").text


KILLED_UNITS = 900  # two batches of 500 at <= 400 messages/s: the fan-out takes seconds, the kill lands inside it


@pytest.fixture
def worker_back(stack_env: Stack) -> Iterator[None]:
    """However the test ends, the stack it shares with the next tests has its worker again."""
    yield
    if "worker" not in stack_env.children:
        stack_env.start_worker()


@pytest.mark.usefixtures("worker_back")
def test_a_worker_killed_in_the_middle_of_the_fan_out_resumes_with_no_customer_notified_twice(
        stack_env: Stack, driver: Driver) -> None:
    from prefect import get_client
    from prefect.states import Crashed

    write_units([UnitRow(serial=f"SN-K{i:04d}", batch=("K-A", "K-B")[i % 2], product_model="PT-3000",
                         customer_ref=f"K{i:04d}", customer_name=f"客户K{i}", customer_email=f"k{i}@example.com",
                         language="en" if i % 2 else "zh", sale_date=date.today() - timedelta(days=90))
                 for i in range(KILLED_UNITS)], source="flow-test-kill")
    opened = httpx.post(f"{stack_env.config.web_url}/api/cases", timeout=60, cookies=session_cookie(), json={
        "procedure": "recall", "customer_name": "质量部", "customer_phone": "02188886666",
        "customer_email": "quality@example.com", "product_model": "PT-3000", "language": "zh",
        "problem_description": "温控器批次不良", "channel": "email",
        "recall": {"origin": "outside_notice", "hazard": "The thermostat may fail.", "manufacturer": "OEM Co.",
                   "selection": {"batches": ["K-A", "K-B"]}}})
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    driver.answer_gate(number, "recall.investigation", SUN, {"findings": "K批次温控器不良", "confirmed": "true"})
    decided = {"recall": "true", "recall_class": "I", "market": "CN"}
    driver.answer_gate(number, "recall.decision_quality", SUN, decided)
    driver.answer_gate(number, "recall.decision", LIU, decided)
    driver.answer_gate(number, "recall.plan", SUN, {"plan": "免费更换温控器", "remedy": "exchange"})
    approval = driver.wait_for_gate(number, "recall.plan_approval")
    _, link = driver.link_for_gate(LIU, approval["id"])

    # Kill the worker and the recall's run once some notices, not all, were sent. The SMTP server hangs from the
    # approval on and lets mail through only in moments of 30 ms, so the fan-out is certain to be halfway when the
    # kill lands (a quiet machine sent all 900 before a kill could land; a loaded one, before the test looked).
    with mail_server_hung(stack_env) as mail_server:
        assert driver.answer(link, {"approved": "true"}).status_code == 200
        end = time.monotonic() + 240
        while outbox_counts(number).get("sent", 0) < 20:
            assert time.monotonic() < end, f"the fan-out never started: {outbox_counts(number)}"
            mail_server.let_through(0.03)
            time.sleep(0.1)
        stack_env.stop_worker(kill=True)
        killed = kill_flow_runs(stack_env)  # the run lives in a session of its own: the worker's kill spares it
        killed_at = time.monotonic()
        before = outbox_counts(number)
    assert killed >= 1, "no flow-run process to kill"
    assert before.get("pending", 0) + before.get("claimed", 0) > 0, f"killed too late: {before}"
    assert before.get("sending", 0) <= get_policy().recall.fanout.connections, before

    # The stack's heartbeat automation would mark the silent run Crashed after 3 beats (90 s): do it now, then
    # the sweep's recovery pass runs it again under its own id before the worker is back.
    run_id = driver.case(number)["flow_run_id"]
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(run_id), Crashed(message="its heartbeat stopped (the test killed it)"))
    assert number in recover_runs().rescheduled
    stack_env.start_worker()

    end = time.monotonic() + 180
    while not any(h["key"] == "notified" for h in driver.case(number)["history"]):
        assert time.monotonic() < end, f"the fan-out never finished: {outbox_counts(number)}"
        time.sleep(0.5)
    resumed = time.monotonic() - killed_at

    # Dead claims went back to pending at once (no 120 s stale wait); the notices the SMTP server held when the
    # worker died are `uncertain`, never sent again by themselves (fanout.py: at most once at that instant).
    after = outbox_counts(number)
    uncertain = after.get("uncertain", 0)
    assert after == {"sent": KILLED_UNITS - uncertain, **({"uncertain": uncertain} if uncertain else {})}
    assert uncertain == before.get("sending", 0)
    customers = {f"k{i}@example.com" for i in range(KILLED_UNITS)}
    received = Counter(m.rcpt_to for m in driver.mails() if m.rcpt_to in customers and ACK.search(m.text or ""))
    assert set(received.values()) == {1}, "nobody notified twice"
    with session_scope() as session:
        rows = session.exec(select(RecallNotice).where(RecallNotice.recall == number)).all()
    sent = {r.email for r in rows if r.status == "sent"}
    held = {r.email for r in rows if r.status == "uncertain"}
    assert sent <= set(received) <= sent | held, "every sent notice arrived once; an uncertain one at most once"
    assert len(sent) + len(held) == KILLED_UNITS
    history = driver.case(number)["history"]
    assert [h["kind"] for h in history].count("recovery") == 1
    notified = next(h for h in history if h["key"] == "notified")
    assert notified["data"]["fanout"]["outbox"] == after and notified["data"]["in_time"] is True

    # The recall moves on: the regulator's reports, then the acknowledgements wait; the ledger counts the sent.
    driver.answer_gate(number, "recall.regulator_reports", SUN, {"submitted_by": "孙丽", "reference": "沪药监-2026-18",
                                                                 "submitted_on": date.today().isoformat()})
    driver.wait_for_gate(number, "recall.acknowledgements", timeout=120)
    csv_all = httpx.get(f"{stack_env.config.web_url}/recalls/{number}/ledger.csv", timeout=60,
                        cookies=session_cookie()).text.splitlines()[-1]
    assert csv_all == f"{number},ALL,{uncertain},{KILLED_UNITS - uncertain},0,0,0,{KILLED_UNITS},0.0"
    print(f"\nworker killed at {before}: resumed and finished {resumed:.0f} s later, {uncertain} uncertain")
