"""One writer per thread: a lease with a fencing token on each item, the checkpoint it shows; accounts; call attempts.

Items left 'deciding' by the old code go back to 'queued', so the next run reads where their thread stands.

Revision ID: 0002_leases_and_accounts
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_leases_and_accounts"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the lease columns, the shown checkpoint, the reviewers table and the attempt number of model calls."""
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text))
        batch.add_column(sa.Column("lease_expires", sa.Float))
        batch.add_column(sa.Column("lease_token", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("checkpoint_id", sa.Text))
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
    op.create_index("llm_calls_thread", "llm_calls", ["thread"])
    if "reviewers" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            "reviewers",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("salt", sa.LargeBinary, nullable=False),
            sa.Column("hash", sa.LargeBinary, nullable=False),
            sa.Column("n", sa.Integer, nullable=False),
            sa.Column("r", sa.Integer, nullable=False),
            sa.Column("p", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
    op.execute("UPDATE items SET status = 'queued', claimed_by = NULL, claim_expires = NULL WHERE status = 'deciding'")
