"""Canaries: known-bad check lines shown to reviewers like any other item, and how each was decided.

Revision ID: 0011_canaries
Revises: 0010_policy_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_canaries"
down_revision = "0010_policy_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add canaries, and an index on the audit log by reviewer (whether a check line is due counts their items)."""
    op.create_table(
        "canaries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("reviewer", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("wrong", sa.Text, nullable=False),
        sa.Column("shown_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float),
        sa.Column("action", sa.Text),
        sa.Column("caught", sa.Integer),
        sa.Column("duration_ms", sa.Float),
        sqlite_autoincrement=True,
    )
    op.create_index("canaries_reviewer", "canaries", ["reviewer", "decided_at"])
    op.create_index("canaries_item", "canaries", ["item_id"], unique=True)
    op.create_index("audit_log_reviewer", "audit_log", ["reviewer"])
