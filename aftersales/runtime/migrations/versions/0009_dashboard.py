"""Indexes of the operations dashboard: waiting steps by deadline (covering), open cases, answers, escalations.

Revision ID: 0009_dashboard
Revises: 0005_recovery
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0009_dashboard"
down_revision = "0008_sign_in"
branch_labels = None
depends_on = None

# name, table, columns (models/ declares the same, tests/integration/test_migrations.py compares them)
INDEXES = (
    # The dashboard's counts read only this index, grouped in its order (by step and holder, no sort).
    ("ix_gates_waiting", "gates", ["status", "kind", "assignee_role", "assignee_person", "deadline_at", "opened_at",
                                   "case_id", "rung"]),
    # The waiting steps, nearest deadline first; the steps whose deadline passed in a period (on-time rates).
    ("ix_gates_status_deadline_at", "gates", ["status", "deadline_at", "kind", "case_id"]),
    ("ix_gates_case_status", "gates", ["case_id", "status"]),  # "does this case wait on anything?"
    ("ix_gates_answered_at", "gates", ["answered_at", "deadline_at", "kind", "case_id"]),  # answered in a period
    ("ix_cases_open", "cases", ["closed_at", "procedure", "opened_at"]),
    ("ix_escalations_at", "escalations", ["at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
