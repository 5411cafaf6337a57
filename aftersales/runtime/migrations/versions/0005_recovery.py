"""cases.needs_attention_at and cases.attention_error: a case whose flow run could not be recovered.

Revision ID: 0005_recovery
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0005_recovery"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("needs_attention_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("attention_error", sa.String(length=1000), nullable=True))
        batch.create_index("ix_cases_needs_attention_at", ["needs_attention_at"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_needs_attention_at")
        batch.drop_column("attention_error")
        batch.drop_column("needs_attention_at")
