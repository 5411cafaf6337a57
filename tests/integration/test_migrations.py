"""Schema migrations on SQLite and a real PostgreSQL: databases of earlier releases keep every row and reach head."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, func, select
from typer.testing import CliRunner

from aftersales.cases import store as cases
from aftersales.cases.view import case_view
from aftersales.cli import app
from aftersales.config.settings import PROJECT_ROOT, get_settings
from aftersales.runtime.db import (
    alembic_config,
    current_revision,
    engine_for,
    get_engine,
    head_revision,
    upgrade_schema,
)
from models import CaseCreate, Gate, GateVote
from models.types import JSONType, UTCDateTime
from tests.integration.conftest import use_database_of

HEAD = "0011_recall"
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TABLES = ("cases", "case_events", "gates", "gate_tokens", "escalations", "notifications", "mailbox")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A new, empty database of each engine, configured as the application's (no schema yet)."""
    use_database_of(request, tmp_path, monkeypatch)
    yield get_engine()
    get_engine().dispose()
    get_settings.cache_clear()


# --- the schema of earlier releases, frozen -------------------------------------------------------------------
# What SQLModel.metadata.create_all made from models/ at the first release (81e3a46) and at the release before
# migrations (e1390ae). Copies, so that these tests keep describing those databases whatever models/ becomes.


def release_metadata(*, answered_person: bool, gate_votes: bool) -> sa.MetaData:
    """81e3a46: answered_person=False, gate_votes=False. e1390ae: both True."""
    md = sa.MetaData()

    def s(n: int) -> sa.String:
        return sa.String(length=n)

    def when() -> UTCDateTime:
        return UTCDateTime()

    cases_ = sa.Table(
        "cases", md,
        sa.Column("customer_name", s(120), nullable=False), sa.Column("customer_phone", s(40), nullable=False),
        sa.Column("customer_email", s(200)), sa.Column("customer_address", s(300)),
        sa.Column("product_model", s(80), nullable=False), sa.Column("serial_number", s(80)),
        sa.Column("purchase_date", sa.Date()), sa.Column("problem_description", s(4000), nullable=False),
        sa.Column("channel", s(20), nullable=False), sa.Column("language", s(5), nullable=False),
        sa.Column("id", sa.Integer(), primary_key=True), sa.Column("number", s(40)),
        sa.Column("procedure", s(20), nullable=False), sa.Column("status", s(20), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False), sa.Column("opened_at", when(), nullable=False),
        sa.Column("closed_at", when()), sa.Column("flow_run_id", s(40)),
        sa.Column("parent_case_id", sa.Integer(), sa.ForeignKey("cases.id")),
        sa.Column("data", JSONType(), nullable=False),
    )
    sa.Index("ix_cases_number", cases_.c.number, unique=True)
    sa.Index("ix_cases_procedure", cases_.c.procedure)
    sa.Index("ix_cases_status", cases_.c.status)
    mailbox = sa.Table(
        "mailbox", md,
        sa.Column("id", sa.Integer(), primary_key=True), sa.Column("received_at", when(), nullable=False),
        sa.Column("mail_from", s(300), nullable=False), sa.Column("rcpt_to", s(1000), nullable=False),
        sa.Column("subject", s(500), nullable=False), sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
    )
    sa.Index("ix_mailbox_rcpt_to", mailbox.c.rcpt_to)
    events = sa.Table(
        "case_events", md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("key", s(120), nullable=False), sa.Column("at", when(), nullable=False),
        sa.Column("kind", s(40), nullable=False), sa.Column("actor", s(120), nullable=False),
        sa.Column("summary", s(1000), nullable=False), sa.Column("data", JSONType(), nullable=False),
        sa.UniqueConstraint("case_id", "key", name="uq_case_event_key"),
    )
    sa.Index("ix_case_events_case_id", events.c.case_id)
    gates = sa.Table(
        "gates", md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("key", s(80), nullable=False), sa.Column("kind", s(40), nullable=False),
        sa.Column("input_model", s(80), nullable=False), sa.Column("flow_run_id", s(40)),
        sa.Column("assignee_role", s(60), nullable=False), sa.Column("assignee_person", s(60)),
        sa.Column("customer_gate", sa.Boolean(), nullable=False), sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("status", s(20), nullable=False), sa.Column("opened_at", when(), nullable=False),
        sa.Column("deadline_at", when(), nullable=False), sa.Column("remind_at", when()),
        sa.Column("reminded_rung", sa.Integer(), nullable=False), sa.Column("answer", JSONType()),
        sa.Column("answered_by", s(120)),
        *([sa.Column("answered_person", s(60))] if answered_person else []),
        sa.Column("answered_at", when()), sa.Column("answered_via", s(40)), sa.Column("resumed_at", when()),
        sa.Column("context", JSONType(), nullable=False),
        sa.UniqueConstraint("case_id", "key", name="uq_gate_case_key"),
    )
    sa.Index("ix_gates_case_id", gates.c.case_id)
    sa.Index("ix_gates_status", gates.c.status)
    notifications = sa.Table(
        "notifications", md,
        sa.Column("id", sa.Integer(), primary_key=True), sa.Column("key", s(200), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id")),
        sa.Column("template", s(80), nullable=False), sa.Column("recipient", s(120), nullable=False),
        sa.Column("channel", s(40), nullable=False), sa.Column("destination", s(300), nullable=False),
        sa.Column("subject", s(300), nullable=False), sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False), sa.Column("sealed_url", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False), sa.Column("status", s(20), nullable=False),
        sa.Column("last_error", s(1000)), sa.Column("created_at", when(), nullable=False),
        sa.Column("sent_at", when()),
    )
    sa.Index("ix_notifications_case_id", notifications.c.case_id)
    sa.Index("ix_notifications_key", notifications.c.key, unique=True)
    sa.Index("ix_notifications_status", notifications.c.status)
    escalations = sa.Table(
        "escalations", md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("gate_id", sa.Integer(), sa.ForeignKey("gates.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", when(), nullable=False), sa.Column("from_role", s(60), nullable=False),
        sa.Column("to_role", s(60), nullable=False), sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("reason", s(300), nullable=False), sa.Column("told", s(500), nullable=False),
    )
    sa.Index("ix_escalations_case_id", escalations.c.case_id)
    sa.Index("ix_escalations_gate_id", escalations.c.gate_id)
    tokens = sa.Table(
        "gate_tokens", md,
        sa.Column("jti", s(40), primary_key=True),
        sa.Column("gate_id", sa.Integer(), sa.ForeignKey("gates.id"), nullable=False),
        sa.Column("person_id", s(60), nullable=False), sa.Column("issued_at", when(), nullable=False),
        sa.Column("expires_at", when(), nullable=False), sa.Column("used_at", when()),
    )
    sa.Index("ix_gate_tokens_gate_id", tokens.c.gate_id)
    if gate_votes:
        votes = sa.Table(
            "gate_votes", md,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("gate_id", sa.Integer(), sa.ForeignKey("gates.id"), nullable=False),
            sa.Column("person_id", s(60), nullable=False), sa.Column("approved", sa.Boolean(), nullable=False),
            sa.Column("comment", s(2000), nullable=False), sa.Column("at", when(), nullable=False),
            sa.UniqueConstraint("gate_id", "person_id", name="uq_vote_gate_person"),
        )
        sa.Index("ix_gate_votes_gate_id", votes.c.gate_id)
    return md


FIRST_RELEASE = release_metadata(answered_person=False, gate_votes=False)  # 81e3a46
RELEASE_BEFORE = release_metadata(answered_person=True, gate_votes=True)  # e1390ae


# --- rows of an earlier release --------------------------------------------------------------------------------


@dataclass
class OldRows:
    number: str
    due: dict[str, datetime | None]  # gate key -> the due_at 0004 must give it
    counts: dict[str, int]


def gate_row(case_id: int, key: str, *, status: str = "waiting", rung: int = 0, reminded_rung: int = -1,
             remind_at: datetime | None = None, deadline_at: datetime, **extra: Any) -> dict[str, Any]:
    return {"case_id": case_id, "key": key, "kind": "repair.triage", "input_model": "TriageInput",
            "flow_run_id": None, "assignee_role": "customer_service", "assignee_person": "li.na",
            "customer_gate": False, "rung": rung, "status": status, "opened_at": T0, "deadline_at": deadline_at,
            "remind_at": remind_at, "reminded_rung": reminded_rung, "answer": None, "answered_by": None,
            "answered_at": None, "answered_via": None, "resumed_at": None, "context": {"summary": []}, **extra}


def insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
    """Insert one row; its new id (the sequence moves on PostgreSQL, as the application's inserts need)."""
    key = conn.execute(table.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def fill(conn: sa.Connection, md: sa.MetaData) -> OldRows:
    """A case with its history, gates in every timing state, a link, an escalation, a vote and messages."""
    t = md.tables
    number = "RP-20261123-00001"
    case_id = insert(
        conn, t["cases"], customer_name="王小明", customer_phone="13912345678", customer_email="wang@example.com",
        customer_address=None, product_model="XQB80-A", serial_number="SN-0001", purchase_date=None,
        problem_description="洗衣机不排水", channel="hotline", language="zh", number=number, procedure="repair",
        status="open", urgent=False, opened_at=T0, closed_at=None, flow_run_id=None, parent_case_id=None,
        data={"warranty": "in"},
    )
    conn.execute(t["case_events"].insert().values(case_id=case_id, key="opened", at=T0, kind="opened",
                                                  actor="system", summary="案件已登记", data={}))
    deadline = T0 + timedelta(hours=2)
    reminder = T0 + timedelta(minutes=90)
    answered: dict[str, Any] = {"answered_person": "li.na"} if "answered_person" in t["gates"].c else {}
    rows = {
        # reminder pending (reminded_rung < rung, before the deadline): due at the reminder
        "reminder_pending": gate_row(case_id, "reminder_pending", remind_at=reminder, deadline_at=deadline),
        # reminder of this rung already sent: due at the deadline
        "reminded": gate_row(case_id, "reminded", rung=1, reminded_rung=1, remind_at=reminder,
                             deadline_at=deadline + timedelta(hours=3)),
        # no reminder at all: the deadline
        "no_reminder": gate_row(case_id, "no_reminder", deadline_at=deadline),
        # a reminder after the deadline does not count: the deadline
        "late_reminder": gate_row(case_id, "late_reminder", remind_at=deadline + timedelta(minutes=30),
                                  deadline_at=deadline),
        # not waiting: nothing is due
        "answered": gate_row(case_id, "answered", status="answered", remind_at=reminder, deadline_at=deadline,
                             answer={"urgent": True}, answered_by="李娜 (li.na)", answered_at=T0,
                             answered_via="link", **answered),
    }
    ids = {key: insert(conn, t["gates"], **row) for key, row in rows.items()}
    conn.execute(t["gate_tokens"].insert().values(jti="j-1", gate_id=ids["reminder_pending"], person_id="li.na",
                                                  issued_at=T0, expires_at=T0 + timedelta(days=14), used_at=None))
    conn.execute(t["escalations"].insert().values(gate_id=ids["reminded"], case_id=case_id, at=T0,
                                                  from_role="customer_service", to_role="service_manager",
                                                  rung=1, reason="late", told="zhang.wei"))
    conn.execute(t["notifications"].insert().values(
        key="n-1", case_id=case_id, template="gate_request", recipient="li.na", channel="mailto",
        destination="mailto://***", subject="请处理", body="正文", html="<p>正文</p>", sealed_url="sealed",
        attempts=1, status="sent", last_error=None, created_at=T0, sent_at=T0))
    conn.execute(t["mailbox"].insert().values(received_at=T0, mail_from="a@localhost", rcpt_to="li.na@example.com",
                                              subject="请处理", text="正文", html=""))
    counts = {name: 1 for name in TABLES} | {"gates": len(rows)}
    if "gate_votes" in t:
        conn.execute(t["gate_votes"].insert().values(gate_id=ids["answered"], person_id="zhang.wei", approved=True,
                                                     comment="同意", at=T0))
        counts["gate_votes"] = 1
    due: dict[str, datetime | None] = {key: row["deadline_at"] for key, row in rows.items()}
    due["reminder_pending"] = reminder
    due["answered"] = None
    return OldRows(number=number, due=due, counts=counts)


def make_old_database(engine: Engine, md: sa.MetaData, *, extra_tables: tuple[str, ...] = ()) -> OldRows:
    """An earlier build's database: its create_all, no alembic_version, some rows."""
    md.create_all(engine)
    if extra_tables:  # tables a later build's create_all added to it (it never added columns)
        RELEASE_BEFORE.create_all(engine, tables=[RELEASE_BEFORE.tables[name] for name in extra_tables])
    with engine.begin() as conn:
        return fill(conn, md)


def assert_upgraded_with_every_row(engine: Engine, old: OldRows) -> None:
    """Head reached; every row still there; due_at backfilled; the index in place; the application reads it."""
    assert current_revision(engine) == HEAD
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        for table, count in old.counts.items():
            assert conn.execute(sa.select(func.count()).select_from(sa.table(table))).scalar_one() == count, table
    gate_columns = {column["name"] for column in inspector.get_columns("gates")}
    assert {"answered_person", "due_at"} <= gate_columns
    indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("gates")}
    assert indexes["ix_gates_status_due_at"] == ["status", "due_at"]
    assert "gate_votes" in inspector.get_table_names()
    with Session(engine) as session:
        gates = {gate.key: gate for gate in session.exec(select(Gate).order_by(col(Gate.id)))}
    assert {key: gate.due_at for key, gate in gates.items()} == old.due
    assert gates["answered"].answer == {"urgent": True} and gates["answered"].answered_at == T0
    # The application works on it: reads the old case, opens a new one (sequences intact on PostgreSQL).
    view = case_view(old.number)
    assert [line["kind"] for line in view["history"]] == ["opened"]
    assert len(view["waiting_gates"]) == 4 and len(view["escalations"]) == 1 and len(view["notifications"]) == 1
    new = cases.open_case(CaseCreate(customer_name="客户", customer_phone="13900000000", product_model="PT-3000",
                                     problem_description="无法开机"))
    assert new.number and new.number != old.number


# --- tests -------------------------------------------------------------------------------------------------------


def test_the_release_before_without_alembic_version_is_adopted_at_0003_and_upgraded(engine: Engine) -> None:
    old = make_old_database(engine, RELEASE_BEFORE)
    assert current_revision(engine) is None
    done = upgrade_schema()
    assert (done.before, done.adopted, done.after) == (None, "0003", HEAD)
    assert_upgraded_with_every_row(engine, old)
    with Session(engine) as session:
        gate = session.exec(select(Gate).where(Gate.key == "answered")).one()
        assert gate.answered_person == "li.na"
        assert [vote.comment for vote in session.exec(select(GateVote))] == ["同意"]


def test_the_release_before_made_by_the_revisions_is_upgraded(engine: Engine) -> None:
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0003")
        conn.commit()
    with engine.begin() as conn:
        old = fill(conn, RELEASE_BEFORE)
    done = upgrade_schema()
    assert (done.before, done.adopted, done.after) == ("0003", None, HEAD)
    assert_upgraded_with_every_row(engine, old)


def test_a_first_release_database_is_stamped_0001_and_gains_answered_person(engine: Engine) -> None:
    old = make_old_database(engine, FIRST_RELEASE)
    done = upgrade_schema()
    assert (done.before, done.adopted, done.after) == (None, "0001", HEAD)
    assert_upgraded_with_every_row(engine, old)
    with Session(engine) as session:
        assert session.exec(select(Gate).where(Gate.key == "answered")).one().answered_person is None


def test_a_first_release_database_that_later_builds_ran_keeps_the_vote_table_they_added(engine: Engine) -> None:
    # create_all of a later build added the new table gate_votes, but never the new column answered_person.
    old = make_old_database(engine, FIRST_RELEASE, extra_tables=("gate_votes",))
    with engine.begin() as conn:
        gate_id = conn.execute(sa.text("SELECT id FROM gates WHERE key = 'answered'")).scalar_one()
        conn.execute(RELEASE_BEFORE.tables["gate_votes"].insert().values(
            gate_id=gate_id, person_id="zhang.wei", approved=False, comment="不同意", at=T0))
    old.counts["gate_votes"] = 1
    done = upgrade_schema()
    assert done.adopted == "0001"
    assert_upgraded_with_every_row(engine, old)


def test_a_database_made_by_create_all_of_the_current_models_is_stamped_head(engine: Engine) -> None:
    import models  # noqa: F401

    SQLModel.metadata.create_all(engine)
    done = upgrade_schema()
    assert (done.before, done.adopted, done.after) == (None, HEAD, HEAD)
    assert current_revision(engine) == HEAD


def differences(engine: Engine, metadata: sa.MetaData) -> list[Any]:
    """What autogenerate would write to turn the database into `metadata` (empty: they are the same)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        # Ignored: nothing. Both engines reflect exactly the types the models declare (UTCDateTime is a
        # DateTime(timezone=True), SQLModel's AutoString a VARCHAR(n)); should a future SQLAlchemy or Alembic
        # report pure type-rendering noise (same DDL, other Python type), filter only that here, with the reason.
        return list(compare_metadata(context, metadata))


def test_the_migrated_schema_equals_the_models(engine: Engine) -> None:
    """Every schema change since the first release is a migration: head has exactly the models' tables."""
    import models  # noqa: F401

    upgrade_schema()
    assert head_revision() == HEAD
    assert differences(engine, SQLModel.metadata) == []


def test_the_revisions_reproduce_the_schemas_of_earlier_releases(engine: Engine) -> None:
    for revision, metadata in (("0001", FIRST_RELEASE), ("0003", RELEASE_BEFORE)):
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
        assert differences(engine, metadata) == [], revision


def test_upgrades_started_at_once_all_succeed_and_one_of_them_migrates(engine: Engine) -> None:
    """Web app, mail sink and worker may start together: each runs the stack's own command."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen([sys.executable, "-m", "aftersales.cli", "db", "upgrade"], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(proc.wait(timeout=120), *proc.communicate()) for proc in procs]
    assert [code for code, _out, _err in results] == [0, 0, 0], results
    outputs = sorted(out.strip().splitlines()[-1].split(" ", 1)[0] for _code, out, _err in results)
    assert [o for o in outputs if o == "upgraded"] == ["upgraded"], results
    assert current_revision(engine) == HEAD


# --- the command ---------------------------------------------------------------------------------------------

runner = CliRunner()


def test_db_upgrade_twice_on_a_fresh_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "fresh.db"
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    try:
        first = runner.invoke(app, ["db", "upgrade"])
        assert first.exit_code == 0, first.output
        assert f"from an empty database to {HEAD}" in first.stdout
        second = runner.invoke(app, ["db", "upgrade"])
        assert second.exit_code == 0, second.output
        assert "nothing to do" in second.stdout
        current = runner.invoke(app, ["db", "current"])
        assert current.exit_code == 0 and current.stdout.strip() == f"{HEAD} (head)"
        assert current_revision(engine_for(f"sqlite:///{db}")) == HEAD
    finally:
        get_settings.cache_clear()


def test_db_current_names_an_earlier_builds_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        FIRST_RELEASE.create_all(engine_for(url))
        result = runner.invoke(app, ["db", "current"])
        assert result.exit_code == 0 and "matching 0001" in result.stdout, result.output
        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert "revision 0001" in upgraded.stdout and f"from 0001 to {HEAD}" in upgraded.stdout
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("command_name", ["upgrade", "current"])
def test_db_commands_fail_in_one_line_when_the_database_cannot_be_reached(
    command_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.conftest import free_port

    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"postgresql://aftersales:s3cret@127.0.0.1:{free_port()}/x")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", command_name])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot"), result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output
