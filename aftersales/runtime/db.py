"""The project's own database: an engine per URL, short-lived sessions, and its schema kept by Alembic."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from aftersales.config.settings import get_settings, make_private

if TYPE_CHECKING:  # Alembic is imported where migrations run: every flow process imports this module, none migrates
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises schema upgrades (any fixed 64-bit number of our own).
SCHEMA_LOCK_KEY = 0x6166_7465_7273_616C  # "aftersal"
# Alembic's `op` and `context` are module globals: one migration run per process at a time.
_process_lock = threading.Lock()


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """One engine per URL; SQLite gets WAL and a busy timeout so web, worker and sweep can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(url, pool_pre_ping=True)


def get_engine() -> Engine:
    """The engine of the configured database."""
    settings = get_settings()
    if not settings.database_url:  # the embedded SQLite file: customers' data, the owner's only
        _private_file(str(settings.data_dir))
    return engine_for(settings.effective_database_url)


@lru_cache(maxsize=8)
def _private_file(data_dir: str) -> None:
    """Make the data folder private and create the database file in it 0600 (or make an older one so); SQLite
    gives its -wal/-shm files the same mode. Once per folder and process: it lists the folder, and every
    database session asks for the engine (py-spy: ~3 % of a flow run's time)."""
    path = str(make_private(Path(data_dir)) / "aftersales.db")
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)


# --- schema ------------------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the scripts next to this module, run on `connection` if given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision in migrations/versions."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR / 'versions'}")
    return head


def current_revision(engine: Engine | None = None) -> str | None:
    """The revision the database is at; None for an empty database or one made by create_all of an earlier build."""
    from alembic.runtime.migration import MigrationContext

    with (engine or get_engine()).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def legacy_revision(conn: Connection) -> str | None:
    """The revision whose schema the tables of an earlier build match (they were made by create_all, which adds
    missing tables at every start but never columns), or None when the database holds none of our tables."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if "gates" not in tables:
        return None
    gate_columns = {column["name"] for column in inspector.get_columns("gates")}
    if "answered_person" not in gate_columns:
        return "0001"  # first release; gate_votes may exist already (0003 keeps it)
    if "gate_votes" not in tables:
        return "0002"
    if "due_at" not in gate_columns:
        return "0003"
    case_columns = {column["name"] for column in inspector.get_columns("cases")}
    if "needs_attention_at" not in case_columns:
        return "0004"  # the last schema a release's create_all made
    # create_all of later models (tests) carries each later migration's mark: the newest mark found decides.
    if "product_units" in tables:
        return "0011_recall"
    if "gate_groups" in tables:
        return "0010_dispatch"
    if "ix_gates_waiting" in {index["name"] for index in inspector.get_indexes("gates")}:
        return "0009_dashboard"
    if "opened_by" in case_columns:
        return "0008_sign_in"
    return "0005_recovery"


@dataclass(frozen=True)
class SchemaUpgrade:
    """What upgrade_schema did."""

    before: str | None  # revision found (None: empty, or tables without alembic_version)
    adopted: str | None  # revision stamped on tables made by an earlier build's create_all
    after: str

    @property
    def changed(self) -> bool:
        return self.adopted is not None or self.before != self.after


def upgrade_schema(engine: Engine | None = None) -> SchemaUpgrade:
    """Bring the database to the newest revision; does nothing when it is there already.

    Safe to run from several processes at once: on PostgreSQL the upgrade holds an advisory lock, on SQLite a
    write transaction (BEGIN IMMEDIATE, waiting on the busy timeout); whoever comes second finds the head.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    import models  # noqa: F401  (registers the tables for env.py)

    engine = engine or get_engine()
    head = head_revision()
    before = current_revision(engine)
    if before == head:
        return SchemaUpgrade(before=before, adopted=None, after=head)
    with _process_lock, engine.connect() as conn:
        _lock_schema(conn)
        before = MigrationContext.configure(conn).get_current_revision()  # again, under the lock
        adopted = legacy_revision(conn) if before is None else None
        if adopted is not None:
            command.stamp(alembic_config(conn), adopted)
        if (adopted or before) != head:
            command.upgrade(alembic_config(conn), "head")
        conn.commit()
    return SchemaUpgrade(before=before, adopted=adopted, after=head)


def _lock_schema(conn: Connection, wait: float = 300) -> None:
    """Take the database-wide lock that the rest of the transaction migrates under."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # SQLite's DDL is transactional: the whole upgrade commits at once. BEGIN IMMEDIATE takes the write
        # lock now; a second upgrader waits (busy timeout 30 s, retried) and then sees the head.
        end = time.monotonic() + wait
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > end:
                    raise
                conn.rollback()


def create_schema(engine: Engine | None = None) -> None:
    """Create or upgrade the schema to the newest migration (idempotent; see upgrade_schema)."""
    upgrade_schema(engine)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
