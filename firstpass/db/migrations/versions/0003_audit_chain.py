"""A hash chain over the audit log, and its head, so that tampering shows.

Existing rows are chained in id order. The head (row count and last hash) is written with every new row.

Revision ID: 0003_audit_chain
Revises: 0002_leases_and_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from firstpass.db.auditchain import GENESIS, row_hash

revision = "0003_audit_chain"
down_revision = "0002_leases_and_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add prev_hash and hash to every audit row, chain the rows there are, and record the head."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:  # the append-only triggers would refuse the one-time UPDATE below
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.Text))
        batch.add_column(sa.Column("hash", sa.Text))
    bind = op.get_bind()
    prev, n = GENESIS, 0
    for row in bind.execute(sa.text("SELECT * FROM audit_log ORDER BY id")).mappings().all():
        digest = row_hash(prev, dict(row))
        bind.execute(sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :id"),
                     {"p": prev, "h": digest, "id": row["id"]})
        prev, n = digest, n + 1
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.Text, nullable=False),
        sa.CheckConstraint("id = 1", name="audit_head_one_row"),
    )
    bind.execute(sa.text("INSERT INTO audit_head (id, count, last_hash) VALUES (1, :n, :h)"), {"n": n, "h": prev})
    if sqlite:
        for table, verb in (("audit_log", "UPDATE"), ("audit_head", "DELETE")):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}"
                       f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
