"""Prompt versions as they were first used (a content hash each), and the hash of each item's rendered prompt.

Revision ID: 0006_prompt_versions
Revises: 0005_undo
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_prompt_versions"
down_revision = "0005_undo"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add prompt_versions and items.prompt_hash."""
    op.create_table(
        "prompt_versions",
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("first_used_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("prompt_hash", sa.Text))
