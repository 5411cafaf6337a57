"""Alembic's environment for the project's own database.

Run in code by `aftersales.runtime.db.upgrade_schema` (which passes its locked connection in
`config.attributes["connection"]`), or by the `alembic` command when writing a revision (then on the
configured database, through the same engine as the application).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Autogenerate drafts name the column types as the revisions do (script.py.mako imports them)."""
    from sqlmodel.sql.sqltypes import AutoString

    from models.types import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "UTCDateTime()"
    if type_ == "type" and isinstance(obj, AutoString):  # SQLModel's str: a plain VARCHAR
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    """The options shared by online and offline runs."""
    dialect = connection.dialect.name if connection is not None else (url or "").split(":", 1)[0].split("+")[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; autogenerate drafts use batch operations for it.
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        render_item=render_item,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL for the dialect of the configured database (AFTERSALES_DATABASE_URL)."""
    from aftersales.config.settings import get_settings

    configure(url=get_settings().effective_database_url)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the caller's connection, else on the configured database's engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from aftersales.runtime.db import get_engine

    with get_engine().connect() as connection:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
