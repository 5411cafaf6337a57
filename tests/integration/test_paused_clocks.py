"""The sweep leaves a case clock alone while the case waits on the customer, and the clock resumes with the time it
had left (PRODUCT.md "Time"; policy clocks.pause_while_waiting_on_customer), on SQLite and an SMTP sink with a
controlled clock."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from aftersales.cases import store as cases
from aftersales.cases.reports import complaint_facts
from aftersales.cases.view import case_view
from aftersales.config.settings import PROJECT_ROOT, Settings, get_settings
from aftersales.gates import lifecycle, links
from aftersales.messaging.mailsink import MailSink
from aftersales.procedures.complaint import start_closing_clock
from aftersales.runtime.db import session_scope
from aftersales.sla.clocks import clock_deadline
from aftersales.sla.sweep import sweep
from aftersales.web.app import create_app
from models import Case, CaseCreate, Gate
from models.complaint import ComplaintDetails
from tests.integration.conftest import REPAIR_CASE
from tests.signin import sign_in

SH = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def gate(gate_id: int) -> Gate:
    with session_scope() as session:
        found = session.get(Gate, gate_id)
        assert found is not None
        return found


def answer(gate_id: int, person: str, fields: dict[str, str], when: datetime) -> None:
    link = links.issue_link(gate_id, person, now=when)
    links.answer_by_link(gate_id, link.split("?t=")[1], fields, now=when)


def open_gate(case_id: int, key: str, kind: str, model: str, when: datetime, **extra: object) -> int:
    return lifecycle.open_gate(case_id=case_id, key=key, kind=kind, input_model=model, flow_run_id=None,
                               summary=[], now=when, **extra)  # type: ignore[arg-type]


def quiet_sweep(when: datetime) -> tuple[list[int], list[int], list[int]]:
    """One sweep at `when`: the gates it reminded, the gates it escalated, the complaints it found late."""
    report = sweep(when, resend=False, resume=False)
    return report.reminded, report.escalated, report.watched.get("complaint.overdue_complaints", [])


def test_the_repair_resolution_clock_stands_still_while_the_customer_decides_then_runs_out_later(
        settings: Settings) -> None:
    """3 working days from Mon 23 Nov 10:00 (F1:164, F2:184) end Thu 17:30. The customer is asked Wed 10:00, with
    16.5 working hours left, and answers the next Monday 10:00: the clock ends Tue 1 Dec 17:30 instead."""
    reported = at(11, 23, 10)
    case = cases.open_case(CaseCreate.model_validate({**REPAIR_CASE, "reported_at": reported}), now=reported)
    assert case.id is not None and case.number is not None
    first_deadline = clock_deadline(case.id, "resolution", now=at(11, 24, 9))
    assert first_deadline == at(11, 26, 17, 30)
    execution = open_gate(case.id, "execution#1.1", "repair.execution", "ExecutionInput", at(11, 24, 9),
                          deadline_at=first_deadline, clock_name="resolution")
    asked = open_gate(case.id, "quote_confirmation#2", "repair.quote_confirmation", "QuoteConfirmationInput",
                      at(11, 25, 10))
    assert gate(asked).customer_gate

    with MailSink():
        for when in (at(11, 26, 9), at(11, 26, 17, 31), at(11, 27, 10)):  # its reminder time, its deadline, after
            reminded, escalated, _ = quiet_sweep(when)
            assert execution not in reminded + escalated, f"a paused clock was acted on at {when}"
        assert gate(execution).rung == 0 and gate(execution).deadline_at == first_deadline

        paused = {c["name"]: c for c in case_view(case.number)["clocks"]}["resolution"]
        assert paused["paused"] is True
        assert datetime.fromisoformat(paused["paused_since"]) == at(11, 25, 10)
        assert paused["remaining_seconds"] == 16.5 * 3600
        with TestClient(create_app()) as client:
            sign_in(client)
            page = client.get(f"/cases/{case.number}").text
        assert 'id="clock-resolution"' in page and "已暂停 paused" in page and "2026-11-25 10:00" in page
        assert "16.5 h" in page

        answer(asked, "customer", {"accept": "true", "signature_name": "王小明"}, at(11, 30, 10))
        assert clock_deadline(case.id, "resolution", now=at(11, 30, 10)) == at(12, 1, 17, 30)
        reminded, escalated, _ = quiet_sweep(at(11, 30, 10, 1))
        assert execution not in escalated
        assert gate(execution).deadline_at == at(12, 1, 17, 30), "the gate's deadline moved with its clock"
        history = [e["summary"] for e in case_view(case.number)["history"] if e["kind"] == "clock"]
        assert len(history) == 1 and "2026-12-01 17:30" in history[0]

        assert execution not in quiet_sweep(at(12, 1, 17, 29))[1]
        assert execution in quiet_sweep(at(12, 1, 17, 31))[1], "once the moved deadline passes it escalates"


def test_a_complaints_closing_limit_is_not_overdue_while_the_customer_reads_the_conclusion(
        settings: Settings) -> None:
    """004:485: 5 natural days from acceptance (Mon 28 Sep 09:00 -> Sat 3 Oct 09:00). The customer is asked to sign
    the conclusion (004:473) on 2 Oct 09:00 and answers on 5 Oct 09:00: 72 h later, the limit is 6 Oct 09:00."""
    opened = at(9, 24, 10)
    case = cases.open_case(CaseCreate(
        procedure="complaint", customer_name="客户", customer_phone="139", customer_email="c@example.com",
        product_model="PT-3000", problem_description="维修后仍有异响", purchase_date=date(2025, 3, 1),
        complaint=ComplaintDetails(category="product_quality", customer_demand="退款"),  # type: ignore[call-arg]
    ), now=opened)
    assert case.id is not None and case.number is not None
    start_closing_clock(case.number, False, at(9, 28, 9))
    sign_off = open_gate(case.id, "customer_sign_off", "complaint.customer_sign_off", "SignOffInput", at(10, 2, 9))

    with MailSink():
        assert quiet_sweep(at(10, 4, 12))[2] == [], "past the first limit, but the case waits on the customer"
        clock = {c["name"]: c for c in case_view(case.number)["clocks"]}["closing"]
        assert clock["paused"] is True and clock["remaining_seconds"] == 24 * 3600
        answer(sign_off, "customer", {"accept": "true"}, at(10, 5, 9))
        assert clock_deadline(case.id, "closing", now=at(10, 5, 9)) == at(10, 6, 9)
        assert quiet_sweep(at(10, 6, 8, 59))[2] == []
        assert quiet_sweep(at(10, 6, 9, 1))[2] == [case.id]

    # Closed on 6 Oct 08:00, after the first limit but within the moved one: on time in the monthly report (004:475).
    with session_scope() as session:
        row = session.get(Case, case.id)
        assert row is not None
        row.closed_at, row.status = at(10, 6, 8), "closed"
        session.add(row)
    [fact] = complaint_facts(date(2026, 10, 1), date(2026, 10, 31))
    assert fact.close_by == at(10, 6, 9) and fact.on_time is True


def test_with_the_switch_off_the_clock_runs_through_the_customers_wait(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """policy clocks.pause_while_waiting_on_customer: false keeps the first deadline."""
    policy = tmp_path / "policy.yaml"
    text = (PROJECT_ROOT / "policy.yaml").read_text(encoding="utf-8")
    switch = "  pause_while_waiting_on_customer: true\n"
    assert switch in text
    policy.write_text(text.replace(switch, "  pause_while_waiting_on_customer: false\n", 1), encoding="utf-8")
    monkeypatch.setenv("AFTERSALES_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    reported = at(11, 23, 10)
    case = cases.open_case(CaseCreate.model_validate({**REPAIR_CASE, "reported_at": reported}), now=reported)
    assert case.id is not None
    asked = open_gate(case.id, "quote_confirmation#1", "repair.quote_confirmation", "QuoteConfirmationInput",
                      at(11, 25, 10))
    assert gate(asked).customer_gate
    assert clock_deadline(case.id, "resolution", now=at(11, 30, 10)) == at(11, 26, 17, 30)
