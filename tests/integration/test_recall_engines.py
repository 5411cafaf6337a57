"""The register's upsert, the outbox, the claims and acknowledgements on SQLite and a real PostgreSQL alike."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from aftersales.config.policy import RecallFanout
from aftersales.config.settings import get_settings
from aftersales.messaging.mailsink import MailSink
from aftersales.recall import acks
from aftersales.recall.fanout import RecallText, send_pending
from aftersales.recall.ledger import ledger
from aftersales.recall.outbox import UnitSelection, build_outbox
from aftersales.recall.units import UnitRow, write_units
from aftersales.runtime.db import create_schema, session_scope
from models import MailboxMessage, ProductUnit
from tests.integration.conftest import free_port, use_database_of


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    use_database_of(request, tmp_path, monkeypatch)
    monkeypatch.setenv("AFTERSALES_SMTP_PORT", str(free_port()))
    get_settings.cache_clear()
    create_schema()
    yield request.param
    get_settings.cache_clear()


def rows(n: int, batch: str = "L1") -> list[UnitRow]:
    return [UnitRow(serial=f"SN-{i:04d}", batch=batch if i % 2 else "L2", product_model="PT-3000",
                    customer_ref=f"C{i // 2}", customer_email=f"c{i // 2}@example.com", sale_date=date(2025, 5, 1))
            for i in range(n)]


def test_units_notices_and_acknowledgements_behave_the_same_on_each_engine(database: str) -> None:
    assert write_units(rows(40), source="a.csv").added == 40
    again = write_units(rows(40, batch="L3"), source="b.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 20, 20)
    with session_scope() as session:
        assert session.exec(select(ProductUnit).where(ProductUnit.serial == "SN-0001")).one().batch == "L3"
    first = build_outbox("RC-1", UnitSelection(batches=["L3"], serial_from="SN-0000", serial_to="SN-0003"))
    # L3: the odd serials (20 units of customers 0-19), the range adds SN-0000 and SN-0002 (customers 0, 1).
    assert (first.units, first.customers) == (22, 20)
    assert build_outbox("RC-1", UnitSelection(batches=["L3"])).units == 22
    text = RecallText("RC-1", "II", "PT-3000", "hazard", "repair")
    with MailSink():
        report = send_pending(text, fanout=RecallFanout(batch_size=7, connections=3))
    assert (report.sent, report.batches, report.by_status) == (20, 3, {"sent": 20})
    with session_scope() as session:
        mails = session.exec(select(MailboxMessage)).all()
    assert Counter(m.rcpt_to for m in mails) == {f"c{i}@example.com": 1 for i in range(20)}
    to_c0 = next(m for m in mails if m.rcpt_to == "c0@example.com")  # customer 0 owns SN-0000 and SN-0001
    token = re.search(r"/recall/ack\?t=(\S+)", to_c0.text).group(1)  # type: ignore[union-attr]
    assert acks.acknowledge(token).first and not acks.acknowledge(token).first
    book = ledger("RC-1")
    assert book.whole.total == 22 and book.whole.counts["acknowledged"] == 2
    assert book.whole.reached("notified") == 22


def test_remedies_move_units_to_remedied_and_closed_in_the_ledger_and_on_the_register(database: str) -> None:
    from aftersales.errors import NotFound
    from aftersales.recall.remedies import mark_remedy

    write_units(rows(6), source="a.csv")
    build_outbox("RC-2", UnitSelection(batches=["L1", "L2"]))
    mark_remedy("RC-2", "SN-0001", "opened", remedy="repair", child_case="RP-20260301-00009")
    mark_remedy("RC-2", "SN-0002", "remedied", remedy="exchange")
    mark_remedy("RC-2", "SN-0003", "closed")
    with pytest.raises(NotFound):
        mark_remedy("RC-2", "SN-9999", "closed")
    book = ledger("RC-2")
    assert book.whole.counts == {"not_notified": 4, "notified": 0, "acknowledged": 0, "remedied": 1, "closed": 1}
    assert book.by_batch["L1"].counts["closed"] == 1 and book.by_batch["L2"].counts["remedied"] == 1
    with session_scope() as session:
        unit = session.exec(select(ProductUnit).where(ProductUnit.serial == "SN-0001")).one()
    assert (unit.remedy_state, unit.last_case) == ("opened", "RP-20260301-00009")
