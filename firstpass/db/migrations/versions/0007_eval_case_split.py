"""Eval cases: a key (the same prospect and AI line is one case), a split fixed once, where each case came from,
and the labels of imported cases.

Revision ID: 0007_eval_case_split
Revises: 0006_prompt_versions
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from firstpass.db.evalcases import case_key, split_of

revision = "0007_eval_case_split"
down_revision = "0006_prompt_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add case_key, split, source, label and errors_json, and fill key and split for the cases there are."""
    with op.batch_alter_table("eval_cases") as batch:
        batch.add_column(sa.Column("case_key", sa.Text))
        batch.add_column(sa.Column("split", sa.Text))
        batch.add_column(sa.Column("source", sa.Text, nullable=False, server_default="override"))
        batch.add_column(sa.Column("label", sa.Text))
        batch.add_column(sa.Column("errors_json", sa.Text, nullable=False, server_default="[]"))
    bind = op.get_bind()
    for row in bind.execute(sa.text("SELECT id, prospect_json, ai_line FROM eval_cases")).mappings().all():
        key = case_key(json.loads(row["prospect_json"]), row["ai_line"])
        bind.execute(sa.text("UPDATE eval_cases SET case_key = :k, split = :s WHERE id = :id"),
                     {"k": key, "s": split_of(key), "id": row["id"]})
    op.create_index("eval_cases_key", "eval_cases", ["case_key"])
