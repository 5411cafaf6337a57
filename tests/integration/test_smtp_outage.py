"""Fault: the SMTP server is down for two minutes while a gate's reminder is due, then back (issue 9). The message
is delivered exactly once, every failed attempt is recorded, and nothing else is sent twice.

Real aiosmtpd sink on loopback, real Apprise, real SQLite; the sweep is the retry (every minute in production),
called here on a controlled clock minute by minute, so the test waits for no real minutes.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from aftersales.cases import store as cases
from aftersales.config.settings import Settings, get_settings
from aftersales.gates import lifecycle
from aftersales.messaging.mailsink import MailSink
from aftersales.runtime.db import session_scope
from aftersales.sla.sweep import sweep
from models import CaseCreate, Gate, MailboxMessage, Notification
from tests.integration.conftest import REPAIR_CASE

SH = ZoneInfo("Asia/Shanghai")
OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=SH)  # a Monday: triage due 11:00 (2 service hours), reminder 10:30


def reminder_rows(gate_id: int) -> list[Notification]:
    with session_scope() as session:
        return list(session.exec(select(Notification).where(
            Notification.key.startswith(f"gate:{gate_id}:reminder:"))).all())  # type: ignore[attr-defined]


def test_a_reminder_due_while_smtp_is_down_for_two_minutes_arrives_once_when_it_is_back(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_NOTIFY_ATTEMPTS", "2")  # tries per sending; the sweep retries each minute
    get_settings.cache_clear()
    received: list[MailboxMessage] = []
    sink = MailSink(on_message=received.append)
    sink.start()
    case = cases.open_case(CaseCreate.model_validate({**REPAIR_CASE, "reported_at": OPENED}), now=OPENED)
    assert case.id is not None and case.number is not None
    gate_id = lifecycle.open_gate(case_id=case.id, key="triage", kind="repair.triage", input_model="TriageInput",
                                  flow_run_id=None, summary=[], now=OPENED)
    lifecycle.notify_gate(gate_id, now=OPENED)
    with session_scope() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None and gate.remind_at is not None
        remind_at = gate.remind_at
    assert [m.rcpt_to for m in received] == ["li.na@example.com"], "the request went out while SMTP was up"

    sink.stop()  # SMTP down
    try:
        due = sweep(remind_at + timedelta(seconds=30), resume=False)
        assert due.reminded == [gate_id], "the reminder was due and attempted"
        for minute in (1, 2):  # two more sweeps, a minute apart, while it is still down
            assert sweep(remind_at + timedelta(minutes=minute, seconds=30), resume=False).resent == 0
        [row] = reminder_rows(gate_id)
        # 2 tries at the reminder, then one retry in each of the three sweeps (the first retries at its end).
        assert row.status == "failed" and row.attempts == 2 + 3 and row.last_error, "every failed try recorded"
        assert len(received) == 1
    finally:
        sink.start()  # SMTP back, on the same port
    try:
        back = sweep(remind_at + timedelta(minutes=3, seconds=30), resume=False)
        assert back.resent >= 1
        [row] = reminder_rows(gate_id)
        assert row.status == "sent" and row.attempts == 2 + 3 + 1 and row.last_error is None
        for minute in (4, 5):
            sweep(remind_at + timedelta(minutes=minute, seconds=30), resume=False)
    finally:
        sink.stop()

    to_assignee = [m.subject for m in received if m.rcpt_to == "li.na@example.com"]
    assert len(to_assignee) == 2, f"the request and the reminder, once each: {to_assignee}"
    assert "提醒" in to_assignee[1] or "reminder" in to_assignee[1].lower(), to_assignee
    twice = [key for key, n in Counter((m.rcpt_to, m.subject, m.text) for m in received).items() if n > 1]
    assert not twice, f"sent twice: {twice}"
    [row] = reminder_rows(gate_id)
    assert row.status == "sent" and row.attempts == 6, "later sweeps did not send it again"
