"""Baseline: the tables firstpass had before migrations were recorded (runs, items, audit log, eval cases, calls).

A database made before Alembic has some or all of these already, possibly without the columns that the
old start-up code added later; this migration creates what is missing and leaves what exists alone.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    """Create the baseline tables, or complete those of a database made before migrations were recorded."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "runs" not in existing:
        op.create_table(
            "runs",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("source", sa.Text, nullable=False, server_default=""),
            sa.Column("headers_json", sa.Text, nullable=False, server_default="[]"),
        )
    if "items" not in existing:
        op.create_table(
            "items",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run", sa.Text, sa.ForeignKey("runs.name"), nullable=False),
            sa.Column("prospect_id", sa.Text, nullable=False),
            sa.Column("row", sa.Integer),
            sa.Column("original_json", sa.Text, nullable=False, server_default="{}"),
            sa.Column("prospect_json", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False, server_default="queued"),
            sa.Column("draft", sa.Text),
            sa.Column("ai_line", sa.Text),
            sa.Column("final_line", sa.Text),
            sa.Column("findings_json", sa.Text, nullable=False, server_default="[]"),
            sa.Column("confidence", sa.Float),
            sa.Column("blocking", sa.Integer, nullable=False, server_default="0"),
            sa.Column("audit_sample", sa.Integer, nullable=False, server_default="0"),
            sa.Column("rounds", sa.Integer, nullable=False, server_default="0"),
            sa.Column("prompt_version", sa.Text),
            sa.Column("drafter_model", sa.Text),
            sa.Column("critic_model", sa.Text),
            sa.Column("error", sa.Text),
            sa.Column("claimed_by", sa.Text),
            sa.Column("claim_expires", sa.Float),
            sa.Column("audited_at", sa.Float),
            sa.Column("audited_by", sa.Text),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
            sa.UniqueConstraint("run", "prospect_id"),
        )
    else:
        have = _columns("items")
        for name, kind in (("audited_at", sa.Float), ("audited_by", sa.Text), ("ai_line", sa.Text)):
            if name not in have:
                op.add_column("items", sa.Column(name, kind))
    op.create_index("items_status", "items", ["status", "run"], if_not_exists=True)
    op.create_index("items_audit_queue", "items", ["status", "audit_sample", "audited_at"], if_not_exists=True,
                    sqlite_where=sa.text("audit_sample = 1 AND audited_at IS NULL"),
                    postgresql_where=sa.text("audit_sample = 1 AND audited_at IS NULL"))
    if "audit_log" not in existing:
        op.create_table(
            "audit_log",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("item_id", sa.Integer, nullable=False),
            sa.Column("run", sa.Text, nullable=False),
            sa.Column("at", sa.Float, nullable=False),
            sa.Column("reviewer", sa.Text, nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("original_line", sa.Text),
            sa.Column("final_line", sa.Text),
            sa.Column("categories_json", sa.Text, nullable=False, server_default="[]"),
            sa.Column("note", sa.Text, nullable=False, server_default=""),
            sa.Column("findings_json", sa.Text, nullable=False, server_default="[]"),
            sa.Column("confidence", sa.Float),
            sa.Column("prompt_version", sa.Text),
            sa.Column("drafter_model", sa.Text),
            sa.Column("critic_model", sa.Text),
            sa.Column("duration_ms", sa.Float),
            sa.Column("status_after", sa.Text),
            sqlite_autoincrement=True,
        )
    elif "status_after" not in _columns("audit_log"):
        op.add_column("audit_log", sa.Column("status_after", sa.Text))
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log"
                       " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
    if "eval_cases" not in existing:
        op.create_table(
            "eval_cases",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("item_id", sa.Integer, nullable=False),
            sa.Column("audit_id", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("run", sa.Text, nullable=False),
            sa.Column("prospect_json", sa.Text, nullable=False),
            sa.Column("prompt_version", sa.Text),
            sa.Column("ai_line", sa.Text),
            sa.Column("findings_json", sa.Text, nullable=False, server_default="[]"),
            sa.Column("confidence", sa.Float),
            sa.Column("verdict", sa.Text, nullable=False),
            sa.Column("final_line", sa.Text),
            sa.Column("categories_json", sa.Text, nullable=False, server_default="[]"),
            sa.Column("note", sa.Text, nullable=False, server_default=""),
            sa.Column("reviewer", sa.Text, nullable=False),
            sqlite_autoincrement=True,
        )
    if "llm_calls" not in existing:
        op.create_table(
            "llm_calls",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("thread", sa.Text),
            sa.Column("prompt_json", sa.Text, nullable=False),
            sa.Column("response", sa.Text),
            sa.Column("error", sa.Text),
            sa.Column("duration_ms", sa.Float),
            sqlite_autoincrement=True,
        )
