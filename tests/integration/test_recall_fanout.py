"""A recall's notices: outbox built from the register, sent in batches to a real SMTP server, acknowledged from
their links over HTTP, failures retried, a sender killed mid-batch resumed with nobody notified twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlmodel import select

from aftersales.config.policy import RecallFanout
from aftersales.config.settings import PROJECT_ROOT, Settings
from aftersales.messaging.mailsink import MailSink, _Handler
from aftersales.recall import acks
from aftersales.recall.fanout import FanoutReport, RecallText, release_stale, release_uncertain, send_pending
from aftersales.recall.ledger import ledger, ledger_csv
from aftersales.recall.outbox import UnitSelection, build_outbox
from aftersales.recall.units import UnitRow, write_units
from aftersales.runtime.db import session_scope
from aftersales.web.app import create_app
from models import MailboxMessage, RecallNotice
from tests.signin import sign_in

SOLD = date.today() - timedelta(days=300)
TEXT = RecallText(recall_number="RC-TEST-1", recall_class="I", product_model="PT-3000",
                  hazard="The heating element may overheat.", remedy="free repair or exchange")
LINK = re.compile(r"http://[^\s\"<]+/recall/ack\?t=[A-Za-z0-9._-]+")


def register(n: int, *, batches: tuple[str, ...] = ("L1", "L2"), pairs: int = 0, no_email: int = 0) -> None:
    """n units of PT-3000 spread over the batches; the first `pairs` customers own two units each."""
    rows = []
    for i in range(n):
        owner = i // 2 if i < 2 * pairs else i
        rows.append(UnitRow(serial=f"SN-{i:05d}", batch=batches[i % len(batches)], product_model="PT-3000",
                            customer_ref=f"C{owner:05d}", customer_name=f"客户{owner}",
                            customer_email=None if owner < no_email else f"c{owner}@example.com",
                            language="en" if owner % 2 else "zh", sale_date=SOLD))
    write_units(rows, source="test")


def mails() -> list[MailboxMessage]:
    with session_scope() as session:
        return list(session.exec(select(MailboxMessage)).all())


def notices() -> dict[str, RecallNotice]:
    with session_scope() as session:
        return {n.customer_ref: n for n in session.exec(select(RecallNotice)).all()}


@pytest.fixture
def sink(settings: Settings) -> Iterator[MailSink]:
    with MailSink(port=settings.smtp_port) as running:
        yield running


def test_a_recall_notifies_each_affected_customer_once_in_batches_and_counts_acknowledgements(
        sink: MailSink) -> None:
    register(300, pairs=20, no_email=3)
    register_other = [UnitRow(serial="SN-99999", batch="L9", product_model="PT-3000", customer_ref="X1",
                              customer_email="x1@example.com", sale_date=SOLD)]
    write_units(register_other, source="test")
    outbox = build_outbox("RC-TEST-1", UnitSelection(product_model="PT-3000", batches=["L1"],
                                                     serial_from="SN-00000", serial_to="SN-00009"))
    # L1 holds the even serials (150), the range adds the odd ones from 1 to 9 (5); L9 is not affected.
    # Units 0-39 belong to customers 0-19 two by two; customers 0-2 (units 0-5) left no e-mail address.
    assert (outbox.units, outbox.customers, outbox.without_address) == (155, 150, 3)
    seen: list[FanoutReport] = []
    report = send_pending(TEXT, fanout=RecallFanout(batch_size=100, messages_per_second=1000),
                          progress=lambda r: seen.append(FanoutReport(r.sent, r.failed, r.batches, 0, r.by_status)))
    assert (report.sent, report.failed, report.batches) == (147, 0, 2)
    assert [(r.sent, r.by_status.get("sent")) for r in seen] == [(100, 100), (147, 147)]
    assert report.by_status == {"sent": 147, "no_address": 3}
    received = Counter(m.rcpt_to for m in mails())
    assert len(received) == 147 and set(received.values()) == {1}
    assert "x1@example.com" not in received
    # A customer with two affected units gets one notice naming both, in their language.
    one = next(m for m in mails() if m.rcpt_to == "c5@example.com")  # owns SN-00010 (affected) and SN-00011
    assert "SN-00010" in one.text and "SN-00011" not in one.text and "URGENT Product recall RC-TEST-1" in one.subject
    zh = next(m for m in mails() if m.rcpt_to == "c4@example.com")
    assert "SN-00008" in zh.text and "SN-00009" in zh.text and "产品召回" in zh.subject

    book = ledger("RC-TEST-1")
    assert book.whole.counts == {"not_notified": 6, "notified": 149, "acknowledged": 0, "remedied": 0, "closed": 0}

    # Acknowledgements from the links over HTTP: a GET only shows the button; the POST records, once.
    client = TestClient(create_app())
    links = {m.rcpt_to: LINK.search(m.text).group(0) for m in mails()}  # type: ignore[union-attr]
    token = links["c5@example.com"].split("t=", 1)[1]
    assert client.get(f"/recall/ack?t={token}").status_code == 200
    assert notices()["C00005"].acknowledged_at is None
    for address in ("c5@example.com", "c4@example.com", "c50@example.com"):
        page = client.post("/recall/ack", data={"t": links[address].split("t=", 1)[1]})
        assert page.status_code == 200 and ("recorded" in page.text or "确认已记录" in page.text)
    again = client.post("/recall/ack", data={"t": token}, headers={"accept-language": "en"})
    assert "You had confirmed already" in again.text
    assert client.post("/recall/ack", data={"t": token[:-3] + "abc"}).status_code == 403
    assert acks.acknowledged_share("RC-TEST-1") == (3, 147)
    book = ledger("RC-TEST-1")
    # c5: one affected unit, c4: SN-00008 and SN-00009, c50: SN-00050.
    assert book.whole.counts["acknowledged"] == 4
    assert book.whole.reached("notified") == 149
    sign_in(client)  # the ledger is for operations; the acknowledgements above needed no sign-in
    csv_text = client.get("/recalls/RC-TEST-1/ledger.csv").text
    assert csv_text.splitlines()[0] == ("recall,batch,not_notified,notified,acknowledged,remedied,closed,total,"
                                       "completion_percent")
    assert "RC-TEST-1,ALL,6,145,4,0,0,155,0.0" in csv_text
    assert ledger_csv(book) == csv_text
    page = client.get("/recalls/RC-TEST-1", headers={"accept-language": "en"})
    assert page.status_code == 200 and "acknowledged" in page.text and "no_address" in page.text
    assert client.get("/recalls/RC-NONE").status_code == 404

    # Building the outbox again sends nobody a second notice.
    build_outbox("RC-TEST-1", UnitSelection(batches=["L1"]))
    assert send_pending(TEXT).sent == 0
    assert len(mails()) == 147


class RefusesOnce(_Handler):
    """The sink's handler, but the first RCPT TO of each listed address gets a temporary refusal."""

    def __init__(self, refuse: set[str]) -> None:
        super().__init__(None)
        self.refuse = set(refuse)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            self.refuse.discard(address)
            return "450 4.2.0 mailbox busy, try again"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_refused_recipient_is_recorded_and_retried_and_an_unreachable_server_fails_each_row(
        settings: Settings) -> None:
    register(20)
    build_outbox("RC-TEST-1", UnitSelection(batches=["L1", "L2"]))
    down = send_pending(TEXT, fanout=RecallFanout(batch_size=5, max_attempts=2))
    assert (down.sent, down.failed, down.by_status) == (0, 40, {"failed": 20})
    row = notices()["C00003"]
    assert row.attempts == 2 and "ConnectionRefusedError" in (row.last_error or "")

    with session_scope() as session:  # an operator's retry after the server is back
        for notice in session.exec(select(RecallNotice)).all():
            notice.status, notice.attempts = "pending", 0
            session.add(notice)
    controller = Controller(RefusesOnce({"c3@example.com", "c7@example.com"}), hostname="127.0.0.1",
                            port=settings.smtp_port, server_hostname="refusing-sink")
    controller.start()
    try:
        report = send_pending(TEXT, fanout=RecallFanout(batch_size=5, max_attempts=3))
    finally:
        controller.stop()
    assert (report.sent, report.failed, report.by_status) == (20, 2, {"sent": 20})
    assert notices()["C00003"].attempts == 2 and notices()["C00004"].attempts == 1
    assert Counter(m.rcpt_to for m in mails())["c3@example.com"] == 1
    assert len(mails()) == 20


SENDER = """
import sys
from aftersales.config.policy import RecallFanout
from aftersales.recall.fanout import RecallText, send_pending
send_pending(RecallText("RC-TEST-1", "I", "PT-3000", "hazard", "repair"),
             fanout=RecallFanout(batch_size=400, messages_per_second=150, connections=2), sender="run0001")
"""


def test_a_sender_killed_mid_batch_is_resumed_and_nobody_is_notified_twice(settings: Settings,
                                                                           sink: MailSink) -> None:
    register(1000)
    build_outbox("RC-TEST-1", UnitSelection(batches=["L1", "L2"]))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    sender = subprocess.Popen([sys.executable, "-c", SENDER], env=env, cwd=PROJECT_ROOT)
    try:
        end = time.monotonic() + 60
        while len(mails()) < 250:  # inside the first batch of 400
            assert sender.poll() is None and time.monotonic() < end, "the sender ended before it was killed"
            time.sleep(0.05)
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
    finally:
        if sender.poll() is None:
            sender.kill()
    before = Counter(n.status for n in notices().values())
    # Two connections: at most two notices were in the server's hands when the sender died.
    assert before["claimed"] > 0 and before["sending"] <= 2 and before["sent"] >= 248

    # Its claims are seconds old: another sender's would be left alone; the dead run's are released at once.
    assert release_stale("RC-TEST-1", dead_sender="run0002") == {"released": 0, "uncertain": 0}
    assert release_stale("RC-TEST-1", dead_sender="run0001") == {"released": before["claimed"],
                                                                 "uncertain": before["sending"]}
    report = send_pending(TEXT, fanout=RecallFanout(batch_size=400, messages_per_second=2000, connections=3))
    assert report.sent == 1000 - before["sent"] - before["sending"]
    received = Counter(m.rcpt_to for m in mails())
    assert max(received.values()) == 1  # nobody twice
    rows = notices().values()
    assert all(received[n.email or ""] == 1 for n in rows if n.status == "sent")
    uncertain = [n for n in rows if n.status == "uncertain"]
    assert len(uncertain) == before["sending"] and len(received) >= 1000 - len(uncertain)
    # Released by an operator, an uncertain notice goes out once more (its customer may get two).
    assert release_uncertain("RC-TEST-1") == len(uncertain)
    assert send_pending(TEXT).sent == len(uncertain)
    assert Counter(n.status for n in notices().values()) == {"sent": 1000}
