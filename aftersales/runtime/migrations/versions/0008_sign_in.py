"""staff_passwords (local sign-in) and cases.opened_by (the intake key or person that opened a case).

Revision ID: 0008_sign_in
Revises: 0005_recovery
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0008_sign_in"
down_revision = "0005_recovery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_passwords",
        sa.Column("staff_id", sa.String(length=60), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("staff_id"),
    )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("opened_by", sa.String(length=80), nullable=True))
        batch.create_index("ix_cases_opened_by", ["opened_by"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_opened_by")
        batch.drop_column("opened_by")
    op.drop_table("staff_passwords")
