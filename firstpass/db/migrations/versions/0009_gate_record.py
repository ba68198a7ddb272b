"""What the gate was when it routed each line: its own route, the tier, the checks, the threshold, shadow mode,
and why an auto-approved line was sampled for audit (at what rate). The metrics and calibration read them.

Revision ID: 0009_gate_record
Revises: 0008_eval_runs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_gate_record"
down_revision = "0008_eval_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the gate's record to items; fill in the route of lines routed before it was kept."""
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("route", sa.Text))
        batch.add_column(sa.Column("gate_route", sa.Text))
        batch.add_column(sa.Column("tier", sa.Text))
        batch.add_column(sa.Column("shadow", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("checks_hash", sa.Text))
        batch.add_column(sa.Column("threshold", sa.Float))
        batch.add_column(sa.Column("audit_rate", sa.Float))
        batch.add_column(sa.Column("audit_reason", sa.Text))
    # Before this, an auto-approved line kept status auto_approved unless an audit changed it.
    op.execute("UPDATE items SET route = CASE WHEN status = 'auto_approved' OR audit_sample = 1"
               " OR audited_at IS NOT NULL THEN 'auto' WHEN status IN ('review', 'approved', 'rejected')"
               " THEN 'review' END")
    op.execute("UPDATE items SET gate_route = route")
    op.create_index("items_created", "items", ["created_at"])
