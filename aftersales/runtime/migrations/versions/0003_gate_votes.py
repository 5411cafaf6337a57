"""gate_votes: one member's vote on a gate that needs a quorum (commit 54689ab).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from models.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Builds before migrations ran create_all at every start: it made this table (exactly as below) also on
    # databases whose gates still lacked answered_person, which are adopted at 0001. Keep theirs.
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("gate_votes"):
        return
    op.create_table(
        "gate_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gate_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=60), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["gate_id"], ["gates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gate_id", "person_id", name="uq_vote_gate_person"),
    )
    op.create_index("ix_gate_votes_gate_id", "gate_votes", ["gate_id"])


def downgrade() -> None:
    op.drop_table("gate_votes")
