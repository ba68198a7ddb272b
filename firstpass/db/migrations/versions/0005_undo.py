"""Undo: the checkpoint each decision was applied to, withdrawn eval cases, and when an item was exported.

Revision ID: 0005_undo
Revises: 0004_audit_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_undo"
down_revision = "0004_audit_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add audit_log.checkpoint_id, eval_cases.withdrawn_at / withdrawn_by and items.exported_at."""
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("checkpoint_id", sa.Text))
    with op.batch_alter_table("eval_cases") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.Float))
        batch.add_column(sa.Column("withdrawn_by", sa.Text))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("exported_at", sa.Float))
