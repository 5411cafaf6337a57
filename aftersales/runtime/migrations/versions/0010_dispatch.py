"""gate_groups and gate_series (waits in parallel, recurring waits); gates.group_id and gates.series_id.

Revision ID: 0010_dispatch
Revises: 0005_recovery
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import JSONType, UTCDateTime

revision = "0010_dispatch"
down_revision = "0009_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("flow_run_id", sa.String(length=40), nullable=True),
        sa.Column("join", JSONType(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=True),
        sa.Column("resumed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "key", name="uq_gate_group_case_key"),
    )
    op.create_index("ix_gate_groups_case_id", "gate_groups", ["case_id"])
    op.create_index("ix_gate_groups_status", "gate_groups", ["status", "resumed_at"])
    op.create_table(
        "gate_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("input_model", sa.String(length=80), nullable=False),
        sa.Column("flow_run_id", sa.String(length=40), nullable=True),
        sa.Column("assignee_role", sa.String(length=60), nullable=True),
        sa.Column("assignee_person", sa.String(length=60), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("subdiv", sa.String(length=10), nullable=True),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("done_field", sa.String(length=40), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("resumed_at", UTCDateTime(), nullable=True),
        sa.Column("context", JSONType(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "key", name="uq_gate_series_case_key"),
    )
    op.create_index("ix_gate_series_case_id", "gate_series", ["case_id"])
    op.create_index("ix_gate_series_status", "gate_series", ["status", "resumed_at"])
    # SQLite: plain ALTER TABLE ... ADD COLUMN ... REFERENCES (allowed for a nullable column), since a batch would
    # recreate `gates`, which gate_tokens, gate_votes and escalations reference; Alembic has no such operation.
    for column, table in (("group_id", "gate_groups"), ("series_id", "gate_series")):
        if op.get_context().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE gates ADD COLUMN {column} INTEGER REFERENCES {table} (id)")
        else:
            op.add_column("gates", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(f"gates_{column}_fkey", "gates", table, [column], ["id"])
    op.create_index("ix_gates_group_id", "gates", ["group_id"])
    op.create_index("ix_gates_series_id", "gates", ["series_id"])


def downgrade() -> None:
    op.drop_index("ix_gates_series_id", "gates")
    op.drop_index("ix_gates_group_id", "gates")
    with op.batch_alter_table("gates") as batch:  # dropping a referencing column recreates the table on SQLite
        batch.drop_column("series_id")
        batch.drop_column("group_id")
    op.drop_table("gate_series")
    op.drop_table("gate_groups")
