"""How each audit row's reviewer is known: from a panel login, or self-asserted (the command line, --no-auth).

Revision ID: 0004_audit_identity
Revises: 0003_audit_chain
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_identity"
down_revision = "0003_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add audit_log.identity (NULL for the rows written before it was recorded)."""
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("identity", sa.Text))
