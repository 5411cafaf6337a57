"""product_units (the register of units sold), recall_notices (a recall's outbox) and recall_units.

Revision ID: 0011_recall
Revises: 0005_recovery
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0011_recall"
down_revision = "0010_dispatch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=80), nullable=False),
        sa.Column("batch", sa.String(length=80), nullable=False),
        sa.Column("product_model", sa.String(length=80), nullable=False),
        sa.Column("customer_ref", sa.String(length=80), nullable=False),
        sa.Column("customer_name", sa.String(length=120), nullable=False),
        sa.Column("customer_email", sa.String(length=200), nullable=True),
        sa.Column("customer_phone", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("sale_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("last_case", sa.String(length=40), nullable=True),
        sa.Column("remedy_state", sa.String(length=20), nullable=True),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_product_units_serial", "product_units", ["serial"], unique=True)
    op.create_index("ix_product_units_batch", "product_units", ["batch"])
    op.create_index("ix_product_units_product_model", "product_units", ["product_model"])
    op.create_index("ix_product_units_customer_ref", "product_units", ["customer_ref"])

    op.create_table(
        "recall_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recall", sa.String(length=40), nullable=False),
        sa.Column("customer_ref", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claim", sa.String(length=40), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recall", "customer_ref", name="uq_recall_notice_customer"),
    )
    op.create_index("ix_recall_notices_recall_status", "recall_notices", ["recall", "status"])

    op.create_table(
        "recall_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recall", sa.String(length=40), nullable=False),
        sa.Column("serial", sa.String(length=80), nullable=False),
        sa.Column("batch", sa.String(length=80), nullable=False),
        sa.Column("customer_ref", sa.String(length=80), nullable=False),
        sa.Column("remedy", sa.String(length=20), nullable=True),
        sa.Column("remedy_state", sa.String(length=20), nullable=False),
        sa.Column("child_case", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recall", "serial", name="uq_recall_unit_serial"),
    )
    op.create_index("ix_recall_units_recall", "recall_units", ["recall"])


def downgrade() -> None:
    op.drop_index("ix_recall_units_recall", table_name="recall_units")
    op.drop_table("recall_units")
    op.drop_index("ix_recall_notices_recall_status", table_name="recall_notices")
    op.drop_table("recall_notices")
    for column in ("customer_ref", "product_model", "batch", "serial"):
        op.drop_index(f"ix_product_units_{column}", table_name="product_units")
    op.drop_table("product_units")
