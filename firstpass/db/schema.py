"""The app's tables, in one place: what the migrations build, as SQLAlchemy Core metadata.

The migrations under `migrations/versions` are the history; this module is the current shape, and a test
checks that a migrated database and this metadata agree.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("name", Text, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("source", Text, nullable=False, server_default=""),
    Column("headers_json", Text, nullable=False, server_default="[]"),
)

items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("run", Text, ForeignKey("runs.name"), nullable=False),
    Column("prospect_id", Text, nullable=False),
    Column("row", Integer),
    Column("original_json", Text, nullable=False, server_default="{}"),
    Column("prospect_json", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="queued"),
    Column("draft", Text),
    Column("ai_line", Text),
    Column("final_line", Text),
    Column("findings_json", Text, nullable=False, server_default="[]"),
    Column("confidence", Float),
    Column("blocking", Integer, nullable=False, server_default="0"),
    Column("audit_sample", Integer, nullable=False, server_default="0"),
    Column("rounds", Integer, nullable=False, server_default="0"),
    Column("prompt_version", Text),
    Column("drafter_model", Text),
    Column("critic_model", Text),
    Column("error", Text),
    # The reviewer who has the item open in the panel (a claim, so two reviewers never work one item).
    Column("claimed_by", Text),
    Column("claim_expires", Float),
    Column("audited_at", Float),
    Column("audited_by", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The one process allowed to advance the item's graph thread, and the fencing token of its lease.
    Column("lease_owner", Text),
    Column("lease_expires", Float),
    Column("lease_token", Integer, nullable=False, server_default="0"),
    # The checkpoint the item shows: its decision resumes exactly there.
    Column("checkpoint_id", Text),
    # When the item's line went out in an export: from then on its decision cannot be undone.
    Column("exported_at", Float),
    # A short hash of the rendered drafter prompt: exactly what the model was asked.
    Column("prompt_hash", Text),
    # The gate's record (what the metrics and calibration read): where the line went, where the gate itself would
    # have sent it (they differ in shadow mode), the tier, the checks' hash and the threshold in force.
    Column("route", Text),
    Column("gate_route", Text),
    Column("tier", Text),
    Column("shadow", Integer, nullable=False, server_default="0"),
    Column("checks_hash", Text),
    Column("threshold", Float),
    # The rate an auto-approved line was sampled for audit at, and why that rate.
    Column("audit_rate", Float),
    Column("audit_reason", Text),
    # A reviewer's decision that a worker still has to apply to the thread (a regenerate on PostgreSQL): the item
    # waits as queued, and the job that resumes it reads the decision from here, so a retried job applies it again.
    Column("resume_json", Text),
    # When retention deleted the thread's checkpoints (the item keeps everything it shows; undo is refused).
    Column("pruned_at", Float),
    UniqueConstraint("run", "prospect_id"),
)
Index("items_status", items.c.status, items.c.run)
Index("items_created", items.c.created_at)
Index("items_audit_queue", items.c.status, items.c.audit_sample, items.c.audited_at,
      sqlite_where=text("audit_sample = 1 AND audited_at IS NULL"),
      postgresql_where=text("audit_sample = 1 AND audited_at IS NULL"))

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, nullable=False),
    Column("run", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("original_line", Text),
    Column("final_line", Text),
    Column("categories_json", Text, nullable=False, server_default="[]"),
    Column("note", Text, nullable=False, server_default=""),
    Column("findings_json", Text, nullable=False, server_default="[]"),
    Column("confidence", Float),
    Column("prompt_version", Text),
    Column("drafter_model", Text),
    Column("critic_model", Text),
    Column("duration_ms", Float),
    Column("status_after", Text),
    # The hash chain (see firstpass.db.auditchain): the row before's hash, and this row's.
    Column("prev_hash", Text),
    Column("hash", Text),
    # "login" (a panel account) or "self-asserted" (a name given on the command line, or under --no-auth).
    Column("identity", Text),
    # The checkpoint the decision was applied to: an undo returns the item there.
    Column("checkpoint_id", Text),
    sqlite_autoincrement=True,
)

Index("audit_log_reviewer", audit_log.c.reviewer)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("last_hash", Text, nullable=False),
    CheckConstraint("id = 1", name="audit_head_one_row"),
)

eval_cases = Table(
    "eval_cases", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, nullable=False),
    Column("audit_id", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("run", Text, nullable=False),
    Column("prospect_json", Text, nullable=False),
    Column("prompt_version", Text),
    Column("ai_line", Text),
    Column("findings_json", Text, nullable=False, server_default="[]"),
    Column("confidence", Float),
    Column("verdict", Text, nullable=False),
    Column("final_line", Text),
    Column("categories_json", Text, nullable=False, server_default="[]"),
    Column("note", Text, nullable=False, server_default=""),
    Column("reviewer", Text, nullable=False),
    # An undone decision's case stays, marked, so that nothing learns from it.
    Column("withdrawn_at", Float),
    Column("withdrawn_by", Text),
    # The same prospect and AI line is one case (firstpass.db.evalcases); its split is drawn once and kept.
    Column("case_key", Text),
    Column("split", Text),
    Column("source", Text, nullable=False, server_default="override"),
    Column("label", Text),
    Column("errors_json", Text, nullable=False, server_default="[]"),
    sqlite_autoincrement=True,
)
Index("eval_cases_key", eval_cases.c.case_key)

llm_calls = Table(
    "llm_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("role", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("thread", Text),
    Column("prompt_json", Text, nullable=False),
    Column("response", Text),
    Column("error", Text),
    Column("duration_ms", Float),
    Column("attempt", Integer, nullable=False, server_default="1"),
    sqlite_autoincrement=True,
)
Index("llm_calls_thread", llm_calls.c.thread)

# Every prompt version the first time it was used, with the hash of its template: a used version never changes.
prompt_versions = Table(
    "prompt_versions", metadata,
    Column("version", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("first_used_at", Float, nullable=False),
)

reviewers = Table(
    "reviewers", metadata,
    Column("name", Text, primary_key=True),
    Column("salt", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("n", Integer, nullable=False),
    Column("r", Integer, nullable=False),
    Column("p", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

# One eval run: what it judged (the eval set's content hash), with which models and prompt versions, and its report.
eval_runs = Table(
    "eval_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Everything that decides the results (set hash, versions and their template hashes, models, few-shot,
    # repeats): an unfinished run with the same key is resumed, not started again.
    Column("config_key", Text, nullable=False),
    Column("config_json", Text, nullable=False),
    Column("set_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("report_json", Text),
    sqlite_autoincrement=True,
)
Index("eval_runs_config", eval_runs.c.config_key)

# One model outcome of a run: a drafted and gated line (kind "drafter") or the gate on a human-judged line ("critic").
eval_results = Table(
    "eval_results", metadata,
    Column("run_id", Integer, ForeignKey("eval_runs.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("case_key", Text, nullable=False),
    Column("variant", Text, nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("result_json", Text, nullable=False),
    Column("prompt_hash", Text),
    Column("at", Float, nullable=False),
    UniqueConstraint("run_id", "kind", "case_key", "variant", "repeat", name="eval_results_one"),
)

# Every policy file written by `firstpass calibrate --apply`, with what it was fitted on (the old file is kept).
policy_versions = Table(
    "policy_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("parent_sha256", Text),
    Column("summary", Text, nullable=False, server_default=""),
    Column("data_json", Text, nullable=False, server_default="{}"),
    sqlite_autoincrement=True,
)

# Known-bad check lines shown to a reviewer like any other item (their items are in the run CANARY_RUN), and how
# each was decided: scored, never exported, never learned from.
canaries = Table(
    "canaries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("wrong", Text, nullable=False),
    Column("shown_at", Float, nullable=False),
    Column("decided_at", Float),
    Column("action", Text),
    Column("caught", Integer),
    Column("duration_ms", Float),
    sqlite_autoincrement=True,
)
Index("canaries_reviewer", canaries.c.reviewer, canaries.c.decided_at)
Index("canaries_item", canaries.c.item_id, unique=True)
