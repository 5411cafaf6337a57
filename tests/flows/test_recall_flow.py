"""A recall's notices sent by one flow run on the real stack: a class I recall over a few hundred units in two
batches, the stack's mail sink receiving them, progress as a Prefect artifact, acknowledgements from the links
over HTTP recorded without any flow run, the ledger on the recall page and as CSV.

(The recall procedure around it, with its gates, reports and child cases, is not built yet: see README.)
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

import httpx
from sqlmodel import col, select

from aftersales.config.settings import get_settings
from aftersales.recall.outbox import UnitSelection, build_outbox
from aftersales.recall.units import UnitRow, write_units
from aftersales.runtime import prefect
from aftersales.runtime.db import session_scope
from aftersales.runtime.stack import Stack
from flows.recall_notices import send_recall_notices
from models import RecallNotice
from tests.flows.driver import Driver

ACK = re.compile(r"https?://[^\s\"'<>]+/recall/ack\?t=([A-Za-z0-9_.\-]+)")


def test_a_class_i_recall_notifies_hundreds_in_batches_and_counts_acknowledgements(stack_env: Stack,
                                                                                   driver: Driver) -> None:
    sold = date.today() - timedelta(days=200)
    write_units([UnitRow(serial=f"SN-R{i:04d}", batch=("L-A", "L-B", "L-C")[i % 3], product_model="PT-3000",
                         customer_ref=f"R{i:04d}", customer_name=f"客户{i}", customer_email=f"r{i}@example.com",
                         language="en" if i % 2 else "zh", sale_date=sold) for i in range(450)], source="flow-test")
    outbox = build_outbox("RC-FLOW-1", UnitSelection(product_model="PT-3000", batches=["L-A", "L-B"]))
    assert (outbox.units, outbox.customers) == (300, 300)
    before = len(driver.mails())

    done = send_recall_notices("RC-FLOW-1", "I", "PT-3000", "The heating element may overheat.", "free repair",
                               batch_size=150)
    assert done == {"sent": 300, "failed": 0, "batches": 2, "outbox": {"sent": 300}}
    assert get_settings().public_base_url == stack_env.config.web_url
    assert prefect.latest_progress("recall-rc-flow-1") == 100.0

    mails = driver.mails(after=0)[before:]
    assert Counter(m.rcpt_to for m in mails) == {f"r{i}@example.com": 1 for i in range(450) if i % 3 != 2}
    # Acknowledgements from the links, over the stack's web app: each one a row update, no run started.
    tokens = {m.rcpt_to: ACK.search(m.text).group(1) for m in mails}  # type: ignore[union-attr]
    http = httpx.Client(base_url=stack_env.config.web_url, timeout=60)
    for i in range(0, 120):
        if i % 3 != 2:
            assert http.post("/recall/ack", data={"t": tokens[f"r{i}@example.com"]}).status_code == 200
    with session_scope() as session:
        acknowledged = session.exec(select(RecallNotice).where(col(RecallNotice.acknowledged_at).is_not(None))).all()
    assert len(acknowledged) == 80
    csv_lines = http.get("/recalls/RC-FLOW-1/ledger.csv").text.splitlines()
    assert csv_lines[1:] == ["RC-FLOW-1,L-A,0,110,40,0,0,150,0.0", "RC-FLOW-1,L-B,0,110,40,0,0,150,0.0",
                             "RC-FLOW-1,ALL,0,220,80,0,0,300,0.0"]
    assert "RC-FLOW-1" in http.get("/recalls/RC-FLOW-1").text
