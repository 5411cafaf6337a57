"""gates.due_at and the (status, due_at) index the sweep scans; waiting gates get their due time (commit 421fa31).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gates") as batch:
        batch.add_column(sa.Column("due_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_gates_status_due_at", ["status", "due_at"])
    # The pending reminder, else the deadline (aftersales.rules.escalation.next_due without the ladder length,
    # which lives in the policy: a gate past its last rung is due at its deadline and the sweep finds nothing
    # to do). Times are stored in UTC on both engines (on SQLite as text of one fixed format), so comparing
    # and copying them in SQL is exact.
    gates = sa.table(
        "gates",
        sa.column("status", sa.String()),
        sa.column("rung", sa.Integer()),
        sa.column("reminded_rung", sa.Integer()),
        sa.column("remind_at", UTCDateTime()),
        sa.column("deadline_at", UTCDateTime()),
        sa.column("due_at", UTCDateTime()),
    )
    reminder_pending = sa.and_(
        gates.c.reminded_rung < gates.c.rung,
        gates.c.remind_at.is_not(None),
        gates.c.remind_at < gates.c.deadline_at,
    )
    op.execute(
        gates.update()
        .where(gates.c.status == "waiting")
        .values(due_at=sa.case((reminder_pending, gates.c.remind_at), else_=gates.c.deadline_at))
    )


def downgrade() -> None:
    with op.batch_alter_table("gates", recreate="never") as batch:
        batch.drop_index("ix_gates_status_due_at")
        batch.drop_column("due_at")
