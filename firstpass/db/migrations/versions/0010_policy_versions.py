"""Policy versions: every policy file `firstpass calibrate --apply` wrote, with the data it was fitted on.

Revision ID: 0010_policy_versions
Revises: 0009_gate_record
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_policy_versions"
down_revision = "0009_gate_record"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add policy_versions."""
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("parent_sha256", sa.Text),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("data_json", sa.Text, nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
