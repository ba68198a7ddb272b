"""The app's own tables in the one SQLite file it shares with the LangGraph checkpoints.

runs, items (one per prospect per run), the append-only audit log, eval cases, and a log of every
model prompt and response.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from critics.findings import Finding
from firstpass.prospect import Prospect

Status = Literal["queued", "auto_approved", "review", "deciding", "approved", "rejected", "failed"]
STATUSES: tuple[str, ...] = ("queued", "auto_approved", "review", "deciding", "approved", "rejected", "failed")
DONE_STATUSES = frozenset({"auto_approved", "approved", "rejected"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    headers_json TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    run TEXT NOT NULL REFERENCES runs(name),
    prospect_id TEXT NOT NULL,
    row INTEGER,
    original_json TEXT NOT NULL DEFAULT '{}',
    prospect_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    draft TEXT,
    ai_line TEXT,
    final_line TEXT,
    findings_json TEXT NOT NULL DEFAULT '[]',
    confidence REAL,
    blocking INTEGER NOT NULL DEFAULT 0,
    audit_sample INTEGER NOT NULL DEFAULT 0,
    rounds INTEGER NOT NULL DEFAULT 0,
    prompt_version TEXT,
    drafter_model TEXT,
    critic_model TEXT,
    error TEXT,
    claimed_by TEXT,
    claim_expires REAL,
    audited_at REAL,
    audited_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (run, prospect_id)
);
CREATE INDEX IF NOT EXISTS items_status ON items (status, run);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL,
    run TEXT NOT NULL,
    at REAL NOT NULL,
    reviewer TEXT NOT NULL,
    action TEXT NOT NULL,
    original_line TEXT,
    final_line TEXT,
    categories_json TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    findings_json TEXT NOT NULL DEFAULT '[]',
    confidence REAL,
    prompt_version TEXT,
    drafter_model TEXT,
    critic_model TEXT,
    duration_ms REAL,
    status_after TEXT
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE IF NOT EXISTS eval_cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL,
    audit_id INTEGER NOT NULL,
    created_at REAL NOT NULL,
    run TEXT NOT NULL,
    prospect_json TEXT NOT NULL,
    prompt_version TEXT,
    ai_line TEXT,
    findings_json TEXT NOT NULL DEFAULT '[]',
    confidence REAL,
    verdict TEXT NOT NULL,
    final_line TEXT,
    categories_json TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    thread TEXT,
    prompt_json TEXT NOT NULL,
    response TEXT,
    error TEXT,
    duration_ms REAL
);
"""


class Item(BaseModel):
    """One prospect in one run, as the store holds it."""

    id: int
    run: str
    prospect_id: str
    row: int | None = None
    original: dict[str, str] = Field(default_factory=dict)
    prospect: Prospect
    status: Status
    draft: str | None = None
    ai_line: str | None = Field(default=None, description="The drafter's own line, before any human edit.")
    final_line: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    confidence: float | None = None
    audit_sample: bool = False
    rounds: int = 0
    prompt_version: str | None = None
    drafter_model: str | None = None
    critic_model: str | None = None
    error: str | None = None
    claimed_by: str | None = None
    claim_expires: float | None = None
    audited_at: float | None = Field(default=None, description="When a reviewer audited this auto-approved line.")
    audited_by: str | None = Field(default=None, description="Who audited this auto-approved line.")
    created_at: float
    updated_at: float

    @property
    def audit_pending(self) -> bool:
        """An auto-approved line sampled for audit that no reviewer has audited yet."""
        return self.status == "auto_approved" and self.audit_sample and self.audited_at is None

    @property
    def thread_id(self) -> str:
        """The LangGraph thread of this item."""
        return thread_id(self.run, self.prospect_id)


class AuditEntry(BaseModel):
    """One row of the append-only audit log."""

    item_id: int
    run: str
    reviewer: str
    action: str
    original_line: str | None
    final_line: str | None
    categories: list[str] = Field(default_factory=list)
    note: str = ""
    findings: list[Finding] = Field(default_factory=list)
    confidence: float | None = None
    prompt_version: str | None = None
    drafter_model: str | None = None
    critic_model: str | None = None
    duration_ms: float | None = None
    status_after: str | None = Field(default=None, description="The item's status once the decision was applied.")
    at: float = Field(default_factory=time.time)


def thread_id(run: str, prospect_id: str) -> str:
    """The LangGraph thread id for one prospect in one run."""
    return f"{run}:{prospect_id}"


def connect(path: Path) -> sqlite3.Connection:
    """Open the database file with settings that suit many small writes from several threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: the store opens its own BEGIN IMMEDIATE transactions, so a writer waits for the lock
    # instead of failing when it would have to upgrade a stale read snapshot.
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL stays consistent on a crash and does not fsync every commit.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _dump_findings(findings: Iterable[Finding]) -> str:
    return json.dumps([f.model_dump() for f in findings])


class Store:
    """The app's tables; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        """Open (and create if needed) the store in the SQLite file at `path`."""
        self.path = path
        self.conn = connect(path)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        with self.lock:
            self.conn.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        # Columns added after a database was first created.
        audit_cols = {r["name"] for r in self.conn.execute("PRAGMA table_info(audit_log)")}
        if "status_after" not in audit_cols:
            self.conn.execute("ALTER TABLE audit_log ADD COLUMN status_after TEXT")
        item_cols = {r["name"] for r in self.conn.execute("PRAGMA table_info(items)")}
        for col, kind in (("audited_at", "REAL"), ("audited_by", "TEXT")):
            if col not in item_cols:
                self.conn.execute(f"ALTER TABLE items ADD COLUMN {col} {kind}")
        # The review queue reads the few auto-approved lines still waiting for their audit; a partial index
        # keeps that cheap however many auto-approved items a database holds. Created here, not in SCHEMA,
        # because an old database only has audited_at once the ALTER above has run.
        self.conn.execute("CREATE INDEX IF NOT EXISTS items_audit_queue ON items (status, audit_sample, audited_at)"
                          " WHERE audit_sample = 1 AND audited_at IS NULL")
        item_cols = {r["name"] for r in self.conn.execute("PRAGMA table_info(items)")}
        if "ai_line" not in item_cols:
            self.conn.execute("ALTER TABLE items ADD COLUMN ai_line TEXT")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the store's lock."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query under the store's lock and return every row."""
        with self.lock:
            return self.conn.execute(sql, tuple(args)).fetchall()

    # runs and items -------------------------------------------------------------------------------

    def ensure_run(self, name: str, source: str = "", headers: list[str] | None = None) -> None:
        """Create the run if it does not exist yet."""
        with self.tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO runs (name, created_at, source, headers_json) VALUES (?, ?, ?, ?)",
                (name, time.time(), source, json.dumps(headers or [])),
            )

    def run_headers(self, name: str) -> list[str]:
        """The CSV headers of a run, in file order."""
        rows = self.query("SELECT headers_json FROM runs WHERE name = ?", (name,))
        return json.loads(rows[0]["headers_json"]) if rows else []

    def runs(self) -> list[str]:
        """Every run's name, newest first."""
        return [r["name"] for r in self.query("SELECT name FROM runs ORDER BY created_at DESC")]

    def add_items(self, run: str, rows: Iterable[tuple[int | None, dict[str, str], Prospect]]) -> int:
        """Add (row, original cells, prospect) items to a run, leaving existing ones untouched; returns how many were new."""
        now = time.time()
        with self.tx() as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO items (run, prospect_id, row, original_json, prospect_json, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run, p.id, row, json.dumps(orig), p.model_dump_json(), now, now) for row, orig, p in rows],
            )
            return c.total_changes - before

    def item(self, item_id: int) -> Item:
        """One item by id; KeyError if there is none."""
        rows = self.query("SELECT * FROM items WHERE id = ?", (item_id,))
        if not rows:
            raise KeyError(f"no item {item_id}")
        return _item(rows[0])

    def item_by_prospect(self, run: str, prospect_id: str) -> Item:
        """One item by run and prospect id; KeyError if there is none."""
        rows = self.query("SELECT * FROM items WHERE run = ? AND prospect_id = ?", (run, prospect_id))
        if not rows:
            raise KeyError(f"no item {prospect_id} in run {run}")
        return _item(rows[0])

    def items(self, run: str | None = None, status: str | None = None, limit: int | None = None) -> list[Item]:
        """Items, optionally of one run and one status, in id order."""
        sql, args = "SELECT * FROM items WHERE 1=1", []
        if run:
            sql += " AND run = ?"
            args.append(run)
        if status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_item(r) for r in self.query(sql, args)]

    def counts(self, run: str) -> dict[str, int]:
        """How many items of a run are in each status."""
        rows = self.query("SELECT status, COUNT(*) AS n FROM items WHERE run = ? GROUP BY status", (run,))
        return {r["status"]: r["n"] for r in rows}

    def save_result(self, item_id: int, **fields: Any) -> None:
        """Write what the graph produced for an item (status, draft, findings, confidence, ...)."""
        if "findings" in fields:
            findings = fields.pop("findings")
            fields["findings_json"] = _dump_findings(findings)
            fields["blocking"] = sum(1 for f in findings if f.severity == "high")
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as c:
            c.execute(f"UPDATE items SET {cols} WHERE id = ?", [*fields.values(), item_id])

    def begin_decision(self, item_id: int, reviewer: str) -> bool:
        """Atomically take a pending item for a decision; False if it is not pending or someone else holds it."""
        now = time.time()
        with self.tx() as c:
            cur = c.execute(
                "UPDATE items SET status = 'deciding', claimed_by = ?, claim_expires = ?, updated_at = ?"
                " WHERE id = ? AND status = 'review'"
                " AND (claimed_by IS NULL OR claimed_by = ? OR claim_expires IS NULL OR claim_expires < ?)",
                (reviewer, now + 60, now, item_id, reviewer, now),
            )
            return cur.rowcount == 1

    def end_decision(self, item_id: int, status: str) -> None:
        """Put an item back in `status` after a decision that did not go through."""
        with self.tx() as c:
            c.execute("UPDATE items SET status = ?, claimed_by = NULL, claim_expires = NULL WHERE id = ?",
                      (status, item_id))

    # audit log and eval cases ---------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> int:
        """Append one decision to the audit log; returns its id."""
        with self.tx() as c:
            return self._insert_audit(c, entry)

    def _insert_audit(self, c: sqlite3.Connection, e: AuditEntry) -> int:
        cur = c.execute(
            "INSERT INTO audit_log (item_id, run, at, reviewer, action, original_line, final_line, categories_json,"
            " note, findings_json, confidence, prompt_version, drafter_model, critic_model, duration_ms, status_after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.item_id, e.run, e.at, e.reviewer, e.action, e.original_line, e.final_line, json.dumps(e.categories),
             e.note, _dump_findings(e.findings), e.confidence, e.prompt_version, e.drafter_model, e.critic_model,
             e.duration_ms, e.status_after),
        )
        return int(cur.lastrowid)

    def audit_log(self, item_id: int | None = None) -> list[AuditEntry]:
        """Audit rows, oldest first, optionally for one item."""
        sql, args = "SELECT * FROM audit_log", []
        if item_id is not None:
            sql, args = sql + " WHERE item_id = ?", [item_id]
        return [_audit(r) for r in self.query(sql + " ORDER BY id", args)]

    def add_eval_case(self, audit_id: int, entry: AuditEntry, prospect: Prospect, verdict: str) -> int:
        """Save a human override as an eval case; returns its id."""
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO eval_cases (item_id, audit_id, created_at, run, prospect_json, prompt_version, ai_line,"
                " findings_json, confidence, verdict, final_line, categories_json, note, reviewer)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.item_id, audit_id, entry.at, entry.run, prospect.model_dump_json(), entry.prompt_version,
                 entry.original_line, _dump_findings(entry.findings), entry.confidence, verdict, entry.final_line,
                 json.dumps(entry.categories), entry.note, entry.reviewer),
            )
            return int(cur.lastrowid)

    def eval_cases(self) -> list[dict[str, Any]]:
        """Every saved eval case, oldest first, with JSON columns decoded."""
        out = []
        for r in self.query("SELECT * FROM eval_cases ORDER BY id"):
            d = dict(r)
            for key in ("prospect_json", "findings_json", "categories_json"):
                d[key.removesuffix("_json")] = json.loads(d.pop(key))
            out.append(d)
        return out

    # model call log -------------------------------------------------------------------------------

    def log_llm_call(self, role: str, model: str, thread: str | None, prompt: Any, response: str | None,
                     error: str | None, duration_ms: float) -> None:
        """Log one model prompt and its response (or error)."""
        with self.tx() as c:
            c.execute(
                "INSERT INTO llm_calls (at, role, model, thread, prompt_json, response, error, duration_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), role, model, thread, json.dumps(prompt, default=str), response, error, duration_ms),
            )


def _item(row: sqlite3.Row) -> Item:
    d = dict(row)
    return Item(
        original=json.loads(d.pop("original_json")),
        prospect=Prospect.model_validate_json(d.pop("prospect_json")),
        findings=[Finding.model_validate(f) for f in json.loads(d.pop("findings_json"))],
        audit_sample=bool(d.pop("audit_sample")),
        **{k: v for k, v in d.items() if k != "blocking"},
    )


def _audit(row: sqlite3.Row) -> AuditEntry:
    d = dict(row)
    d.pop("id")
    return AuditEntry(
        categories=json.loads(d.pop("categories_json")),
        findings=[Finding.model_validate(f) for f in json.loads(d.pop("findings_json"))],
        **d,
    )
