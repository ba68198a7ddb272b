"""Eval runs and their per-case results: stored, so that history can be shown and a stopped run resumed.

Revision ID: 0008_eval_runs
Revises: 0007_eval_case_split
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_eval_runs"
down_revision = "0007_eval_case_split"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add eval_runs and eval_results."""
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("config_key", sa.Text, nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("set_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("report_json", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("eval_runs_config", "eval_runs", ["config_key"])
    op.create_table(
        "eval_results",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("case_key", sa.Text, nullable=False),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("result_json", sa.Text, nullable=False),
        sa.Column("prompt_hash", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
        sa.UniqueConstraint("run_id", "kind", "case_key", "variant", "repeat", name="eval_results_one"),
    )
