"""Workers: a decision waiting for a worker on the item, when its checkpoints were pruned, and on PostgreSQL the job queue's schema (procrastinate)
and the audit log's append-only triggers.

Revision ID: 0012_workers
Revises: 0011_canaries
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_workers"
down_revision = "0011_canaries"
branch_labels = None
depends_on = None

# (SQLAlchemy passes parameters, so psycopg reads % as a placeholder: %% is one %.)
# The same refusal the SQLite triggers of 0001 and 0003 give: the log and its head are only ever appended to.
_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION firstpass_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME;
END $$;
"""
_TRIGGERS = (("audit_log", "UPDATE"), ("audit_log", "DELETE"), ("audit_head", "DELETE"))


def upgrade() -> None:
    """Add items.resume_json and items.pruned_at; on PostgreSQL, procrastinate's tables and the append-only
    triggers."""
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("resume_json", sa.Text))
        batch.add_column(sa.Column("pruned_at", sa.Float))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(_APPEND_ONLY)
    for table, verb in _TRIGGERS:
        bind.exec_driver_sql(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}"
                             " FOR EACH ROW EXECUTE FUNCTION firstpass_append_only()")
    # TRUNCATE skips row triggers; a statement trigger refuses it too.
    bind.exec_driver_sql("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
                         " FOR EACH STATEMENT EXECUTE FUNCTION firstpass_append_only()")
    if bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
        from procrastinate.schema import SchemaManager

        # The schema of the installed procrastinate; a later procrastinate's own migration files go in later
        # migrations here, so the database records which it has.
        bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    # procrastinate's fetch looks, for each waiting job, for an earlier job with the same lock; with one lock per
    # item and no index to find them, every fetch scanned the queue (53 ms with 2,000 jobs waiting; under 1 ms with
    # this index), and the fetches of every worker queued behind each other.
    bind.exec_driver_sql("CREATE INDEX IF NOT EXISTS firstpass_jobs_lock_waiting ON procrastinate_jobs"
                         " (lock, priority, id) WHERE status IN ('todo', 'doing')")
