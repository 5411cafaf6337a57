"""gates.answered_person: the person id behind a link answer (commit 8006cfa).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gates") as batch:
        batch.add_column(sa.Column("answered_person", sa.String(length=60), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): copying the table would trip the foreign keys that point at it.
    with op.batch_alter_table("gates", recreate="never") as batch:
        batch.drop_column("answered_person")
