"""The app's own tables, and one method per use case, each its own transaction.

runs, items (one per prospect per run, with the reviewer's claim and the writer's lease), the append-only
audit log, eval cases, model calls and reviewer accounts. Nothing outside `firstpass.db` touches a
connection: callers say what happened (a result was produced, a decision was taken) and the store writes
everything that belongs to it together, or nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, RowMapping, bindparam, text

from critics.findings import Finding
from critics.prospect import Prospect
from firstpass.db import jobqueue, migrate
from firstpass.db.auditchain import Verdict, row_hash, walk
from firstpass.db.canarystore import CANARY_RUN, Canaries
from firstpass.db.engine import PgOptions, WriteLock, make_engine, sqlite_url
from firstpass.db.evalcases import case_key, split_of
from firstpass.db.evalruns import EvalRuns
from firstpass.terminal import cap
from graph.models import ModelCall

Status = Literal["queued", "auto_approved", "review", "approved", "rejected", "failed"]
STATUSES: tuple[str, ...] = ("queued", "auto_approved", "review", "approved", "rejected", "failed")
DONE_STATUSES = frozenset({"auto_approved", "approved", "rejected"})
# How much of a model error is stored (the rest is cut, and the cut is said).
ERROR_LIMIT = 4096
# Items in these states still have work the graph can do without a human.
TODO_STATUSES: tuple[str, ...] = ("queued", "failed")


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
    lease_owner: str | None = Field(default=None, description="The process advancing the item's thread now.")
    lease_expires: float | None = None
    lease_token: int = Field(default=0, description="Fencing token: raised by every new lease on the item.")
    checkpoint_id: str | None = Field(default=None, description="The checkpoint the item shows; decisions resume it.")
    exported_at: float | None = Field(default=None, description="When the item's line went out in an export.")
    prompt_hash: str | None = Field(default=None, description="Hash of the rendered drafter prompt.")
    route: str | None = Field(default=None, description="Where the gate sent the line: auto or review.")
    gate_route: str | None = Field(default=None, description="Where the gate itself would send it (shadow mode).")
    tier: str | None = Field(default=None, description="The consequence tier in force when it was routed.")
    shadow: bool = Field(default=False, description="Routed in shadow mode: every line went to a human.")
    checks_hash: str | None = Field(default=None, description="Hash of the policy's checks when it was routed.")
    threshold: float | None = Field(default=None, description="The confidence threshold in force when it was routed.")
    audit_rate: float | None = Field(default=None, description="The rate it was sampled for audit at.")
    audit_reason: str | None = Field(default=None, description="Why that audit rate.")
    resume: dict[str, Any] | None = Field(default=None, description="A reviewer's decision waiting for a worker to "
                                          "apply it to the thread (the item is queued meanwhile).")
    pruned_at: float | None = Field(default=None, description="When retention deleted the thread's checkpoints.")

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
    identity: str | None = Field(default=None, description="How the reviewer is known: login or self-asserted.")
    checkpoint_id: str | None = Field(default=None, description="The checkpoint the decision was applied to.")


@dataclass(frozen=True)
class Activity:
    """What a run's items are doing now (see Store.activity)."""

    statuses: dict[str, int]
    running: dict[str, int]
    audits_waiting: int
    jobs: dict[str, int]
    workers: int


@dataclass(frozen=True)
class Lease:
    """The right to advance one item's thread, until `expires`, proven by the fencing `token`."""

    item_id: int
    owner: str
    token: int
    expires: float


@dataclass(frozen=True)
class Outcome:
    """Where an item's thread stands after the graph ran: what the item must show."""

    status: str
    draft: str | None = None
    ai_line: str | None = None
    final_line: str | None = None
    findings: tuple[Finding, ...] = ()
    confidence: float | None = None
    audit_sample: bool = False
    rounds: int = 0
    prompt_version: str | None = None
    drafter_model: str | None = None
    critic_model: str | None = None
    checkpoint_id: str | None = None
    prompt_hash: str | None = None
    route: str | None = None
    gate_route: str | None = None
    tier: str | None = None
    shadow: bool = False
    checks_hash: str | None = None
    threshold: float | None = None
    audit_rate: float | None = None
    audit_reason: str | None = None


def thread_id(run: str, prospect_id: str) -> str:
    """The LangGraph thread id for one prospect in one run."""
    return f"{run}:{prospect_id}"


def _dump_findings(findings: Iterable[Finding]) -> str:
    return json.dumps([f.model_dump() for f in findings])


def _outcome_fields(o: Outcome) -> dict[str, Any]:
    return {"status": o.status, "draft": o.draft, "ai_line": o.ai_line, "final_line": o.final_line,
            "findings_json": _dump_findings(o.findings), "blocking": sum(f.severity == "high" for f in o.findings),
            "confidence": o.confidence, "audit_sample": int(o.audit_sample), "rounds": o.rounds,
            "prompt_version": o.prompt_version, "drafter_model": o.drafter_model, "critic_model": o.critic_model,
            "checkpoint_id": o.checkpoint_id, "prompt_hash": o.prompt_hash, "error": None, "route": o.route,
            "gate_route": o.gate_route, "tier": o.tier, "shadow": int(o.shadow), "checks_hash": o.checks_hash,
            "threshold": o.threshold, "audit_rate": o.audit_rate, "audit_reason": o.audit_reason, "resume_json": None}


_AUDIT_INSERT = text(
    "INSERT INTO audit_log (item_id, run, at, reviewer, action, original_line, final_line, categories_json, note,"
    " findings_json, confidence, prompt_version, drafter_model, critic_model, duration_ms, status_after, prev_hash,"
    " hash, identity, checkpoint_id) VALUES (:item_id, :run, :at, :reviewer, :action, :original_line, :final_line,"
    " :categories_json, :note, :findings_json, :confidence, :prompt_version, :drafter_model, :critic_model,"
    " :duration_ms, :status_after, :prev_hash, :hash, :identity, :checkpoint_id)"
    " RETURNING id"
)
_EVAL_INSERT = text(
    "INSERT INTO eval_cases (item_id, audit_id, created_at, run, prospect_json, prompt_version, ai_line,"
    " findings_json, confidence, verdict, final_line, categories_json, note, reviewer, case_key, split, source, label,"
    " errors_json) VALUES (:item_id, :audit_id, :created_at, :run, :prospect_json, :prompt_version, :ai_line,"
    " :findings_json, :confidence, :verdict, :final_line, :categories_json, :note, :reviewer, :case_key, :split,"
    " :source, :label, :errors_json)"
)
_CALL_INSERT = text(
    "INSERT INTO llm_calls (at, role, model, thread, prompt_json, response, error, duration_ms, attempt)"
    " VALUES (:at, :role, :model, :thread, :prompt, :response, :error, :ms, :attempt)"
)
# A lease is free when nobody holds it or it ran out.
_LEASE_FREE = "(lease_owner IS NULL OR lease_expires IS NULL OR lease_expires < :now)"


def _free_lease(dead: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The lease-is-free condition, also true for the leases of owners known to be dead, and its parameters."""
    if not dead:
        return _LEASE_FREE, {}
    marks = ", ".join(f":dead{i}" for i in range(len(dead)))
    return f"({_LEASE_FREE} OR lease_owner IN ({marks}))", {f"dead{i}": d for i, d in enumerate(dead)}


class AuditLogError(RuntimeError):
    """The audit log is missing, emptied or disagrees with its head: the database was tampered with."""


class DatabaseNotReadyError(RuntimeError):
    """A shared database that is not at the newest migration: `firstpass db upgrade` brings it there, once."""


class Store:
    """The app's tables in one database; safe to share between threads.

    Opening a SQLite file (the embedded default) applies due migrations; a shared PostgreSQL database is migrated
    once, by `firstpass db upgrade`, never by each worker at start, and refuses to open until it is.
    """

    def __init__(self, target: Path | str, check_audit_log: bool = True, pg: PgOptions | None = None) -> None:
        """Open the SQLite file at `target` (a path) or the database at a URL (PostgreSQL with the pool options `pg`).

        Unless told not to (`firstpass audit verify` opens it to report), a missing or emptied audit log, or one
        whose row count or last hash disagrees with its head, refuses to open: it is never silently recreated.
        """
        url = target if isinstance(target, str) and "://" in target else sqlite_url(Path(target))
        self.url = url
        self.pg = pg or PgOptions()
        self.path: Path | None = Path(url.split("///", 1)[1]) if url.startswith("sqlite:///") else None
        self.engine: Engine = make_engine(url, self.pg)
        # A read, or a write of one statement, needs no BEGIN and COMMIT on PostgreSQL: two round trips fewer.
        self._autocommit: Engine = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                                if self.engine.dialect.name == "postgresql" else self.engine)
        self._write_lock = WriteLock(self.engine)
        if self.postgres:
            self._check_migrated()
        else:
            migrate.upgrade(self.engine)
        self.eval_runs = EvalRuns(self._tx, self._rows)
        self.canaries = Canaries(self._tx, self._rows)
        if check_audit_log:
            self._check_audit_head()

    @property
    def postgres(self) -> bool:
        """Whether the database is PostgreSQL (the shared store of workers and panels)."""
        return self.engine.dialect.name == "postgresql"

    def _check_migrated(self) -> None:
        try:
            at = migrate.current(self.engine)
        except Exception:
            self.close()
            raise
        if at != migrate.head():
            self.close()
            where = self.engine.url.render_as_string(hide_password=True)
            state = f"is at migration {at}" if at else "has no firstpass tables"
            raise DatabaseNotReadyError(f"database {where} {state}; this firstpass needs {migrate.head()}. Run "
                                   "`firstpass db upgrade` once (not from every worker), then start again")

    def _check_audit_head(self) -> None:
        try:
            rows = self._rows("SELECT (SELECT COUNT(*) FROM audit_log) AS n, (SELECT hash FROM audit_log"
                              " ORDER BY id DESC LIMIT 1) AS last, h.count, h.last_hash FROM audit_head AS h")
        except Exception as exc:  # noqa: BLE001 - a dropped table shows as an error here
            self.close()
            raise AuditLogError(f"the audit log cannot be read ({type(exc).__name__}); it was dropped or damaged. "
                                "Nothing was recreated: restore the database from a backup") from exc
        head = rows[0] if rows else None
        if head is None or head["n"] != head["count"] or (head["count"] and head["last"] != head["last_hash"]):
            self.close()
            found = 0 if head is None else head["n"]
            written = "an unknown number of" if head is None else head["count"]
            raise AuditLogError(f"the audit log holds {found} row(s) but {written} were written: it was emptied, "
                                "replaced or tampered with. Run `firstpass audit verify`; nothing was changed")

    def verify_audit_log(self) -> Verdict:
        """Walk the audit log's hash chain and compare it with its head; the first broken link, if any."""
        with self.engine.connect() as conn:
            head = conn.execute(text("SELECT count, last_hash FROM audit_head WHERE id = 1")).first()
            rows = (dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY id")).mappings())
            return walk(rows, int(head[0]) if head else None, str(head[1]) if head else None)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _statement(self) -> Iterator[Connection]:
        """A connection for one write statement: autocommit on PostgreSQL (the statement is its own transaction)."""
        if not self.postgres:
            with self._tx() as c:
                yield c
            return
        with self._autocommit.connect() as c:
            yield c

    def _rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        with self._autocommit.connect() as conn:
            return list(conn.execute(text(sql), dict(params or {})).mappings())

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        """Run a read-only query with named parameters (for reports, tests and benchmarks)."""
        return self._rows(sql, params)

    # runs and items -------------------------------------------------------------------------------

    def ensure_run(self, name: str, source: str = "", headers: list[str] | None = None) -> None:
        """Create the run if it does not exist yet."""
        with self._tx() as c:
            c.execute(text("INSERT INTO runs (name, created_at, source, headers_json) VALUES (:n, :t, :s, :h)"
                           " ON CONFLICT (name) DO NOTHING"),
                      {"n": name, "t": time.time(), "s": source, "h": json.dumps(headers or [])})

    def run_headers(self, name: str) -> list[str]:
        """The CSV headers of a run, in file order."""
        rows = self._rows("SELECT headers_json FROM runs WHERE name = :n", {"n": name})
        return list(json.loads(rows[0]["headers_json"])) if rows else []

    def runs(self) -> list[str]:
        """Every run's name, newest first."""
        return [r["name"] for r in self._rows("SELECT name FROM runs WHERE name != :checks ORDER BY created_at DESC",
                                              {"checks": CANARY_RUN})]

    def add_items(self, run: str, rows: Iterable[tuple[int | None, dict[str, str], Prospect]],
                  batch: int = 2000) -> int:
        """Add (row, original cells, prospect) items to a run, leaving existing ones untouched; returns how many were new.

        Rows are consumed as a stream and written `batch` at a time, so a long file never sits in memory whole;
        a load cut short is completed by running it again.
        """
        now = time.time()
        have = {r["prospect_id"] for r in self._rows("SELECT prospect_id FROM items WHERE run = :run", {"run": run})}
        added = 0
        pending: list[dict[str, Any]] = []
        for row, orig, p in rows:
            if p.id in have:
                continue
            have.add(p.id)
            pending.append({"run": run, "pid": p.id, "row": row, "orig": json.dumps(orig),
                            "prospect": p.model_dump_json(), "now": now})
            if len(pending) >= batch:
                added += self._insert_items(pending)
                pending = []
        return added + (self._insert_items(pending) if pending else 0)

    def _insert_items(self, rows: list[dict[str, Any]]) -> int:
        # Another process may load the same file at the same moment: a row it stored first is left to it.
        with self._tx() as c:
            result = c.execute(text("INSERT INTO items (run, prospect_id, row, original_json, prospect_json,"
                                    " created_at, updated_at) VALUES (:run, :pid, :row, :orig, :prospect, :now, :now)"
                                    " ON CONFLICT (run, prospect_id) DO NOTHING"), rows)
        return max(0, int(result.rowcount))

    def item(self, item_id: int) -> Item:
        """One item by id; KeyError if there is none."""
        rows = self._rows("SELECT * FROM items WHERE id = :id", {"id": item_id})
        if not rows:
            raise KeyError(f"no item {item_id}")
        return _item(rows[0])

    def item_by_prospect(self, run: str, prospect_id: str) -> Item:
        """One item by run and prospect id; KeyError if there is none."""
        rows = self._rows("SELECT * FROM items WHERE run = :run AND prospect_id = :pid", {"run": run, "pid": prospect_id})
        if not rows:
            raise KeyError(f"no item {prospect_id} in run {run}")
        return _item(rows[0])

    def items(self, run: str | None = None, status: str | None = None, limit: int | None = None,
              statuses: Iterable[str] | None = None) -> list[Item]:
        """Items, optionally of one run and of one status (or several), in id order."""
        sql, args = "SELECT * FROM items WHERE 1=1", {}  # type: tuple[str, dict[str, Any]]
        if run:
            sql += " AND run = :run"
            args["run"] = run
        else:
            sql += " AND run != :checks"  # check lines are shown only to the reviewer they were made for
            args["checks"] = CANARY_RUN
        wanted = [status] if status else list(statuses or [])
        if wanted:
            sql += " AND status IN (" + ", ".join(f":s{i}" for i in range(len(wanted))) + ")"
            args.update({f"s{i}": s for i, s in enumerate(wanted)})
        sql += " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_item(r) for r in self._rows(sql, args)]

    def counts(self, run: str) -> dict[str, int]:
        """How many items of a run are in each status."""
        rows = self._rows("SELECT status, COUNT(*) AS n FROM items WHERE run = :run GROUP BY status", {"run": run})
        return {r["status"]: int(r["n"]) for r in rows}

    def activity(self, run: str | None = None) -> Activity:
        """What the items (of a run, or all) are doing now: statuses, who is running which, audits waiting, and on
        PostgreSQL the job queue's states and the workers seen in the last minute."""
        where, args = ("WHERE run = :run", {"run": run}) if run else ("", {})
        statuses = {r["status"]: int(r["n"]) for r in self._rows(
            f"SELECT status, COUNT(*) AS n FROM items {where} GROUP BY status", args)}
        live = f"{where} {'AND' if where else 'WHERE'} lease_owner IS NOT NULL AND lease_expires >= :now"
        running = {str(r["lease_owner"]): int(r["n"]) for r in self._rows(
            f"SELECT lease_owner, COUNT(*) AS n FROM items {live} GROUP BY lease_owner", {**args, "now": time.time()})}
        audits = self._rows(f"SELECT COUNT(*) AS n FROM items {where} {'AND' if where else 'WHERE'} {AUDIT_PENDING}",
                            args)
        jobs: dict[str, int] = {}
        workers = 0
        if self.postgres:
            jobs = {r["status"]: int(r["n"]) for r in self._rows(jobqueue.JOB_COUNTS_SQL, {"task": jobqueue.TASK})}
            workers = len(self._rows(jobqueue.WORKERS_SQL, {"seconds": 60}))
        return Activity(statuses, running, int(audits[0]["n"]), jobs, workers)

    # retention -------------------------------------------------------------------------------------

    def prunable_threads(self, before: float, limit: int) -> list[tuple[int, str]]:
        """Finished items (approved, rejected, auto-approved) last changed before `before` whose checkpoints are
        still kept: (item id, thread id), oldest first."""
        marks = ", ".join(f"'{s}'" for s in sorted(DONE_STATUSES))
        rows = self._rows(f"SELECT id, run, prospect_id FROM items WHERE status IN ({marks}) AND pruned_at IS NULL"
                          " AND updated_at < :before AND resume_json IS NULL ORDER BY updated_at, id LIMIT :n",
                          {"before": before, "n": limit})
        return [(int(r["id"]), thread_id(r["run"], r["prospect_id"])) for r in rows]

    def mark_pruned(self, item_ids: Sequence[int]) -> None:
        """Record that these items' checkpoints were deleted."""
        ids = list(item_ids)
        with self._tx() as c:
            c.execute(text("UPDATE items SET pruned_at = :t WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)), {"t": time.time(), "ids": ids})

    # the writer's lease (one process advances a thread at a time) ---------------------------------

    def take_lease(self, item_id: int, owner: str, seconds: float, statuses: Iterable[str] = TODO_STATUSES,
                   dead: Sequence[str] = ()) -> Lease | None:
        """Lease an item in one of `statuses` for `owner`, raising its fencing token; None if another holds it.

        `dead` names owners known to have died (a crashed process on this machine): their leases are taken over
        at once instead of after they run out.
        """
        leased = self.lease_item(item_id, owner, seconds, statuses, dead)
        return leased[0] if leased else None

    def lease_item(self, item_id: int, owner: str, seconds: float, statuses: Iterable[str] = TODO_STATUSES,
                   dead: Sequence[str] = ()) -> tuple[Lease, Item] | None:
        """`take_lease`, returning the item as the lease found it too (one statement: a worker's first step)."""
        now = time.time()
        wanted = list(statuses)
        marks = ", ".join(f":s{i}" for i in range(len(wanted)))
        free, dead_args = _free_lease(dead)
        args = {"id": item_id, "owner": owner, "now": now, "until": now + seconds,
                **{f"s{i}": s for i, s in enumerate(wanted)}, **dead_args}
        with self._statement() as c:
            row = c.execute(text(f"UPDATE items SET lease_owner = :owner, lease_expires = :until,"
                                 f" lease_token = lease_token + 1 WHERE id = :id AND status IN ({marks}) AND {free}"
                                 " RETURNING *"), args).mappings().first()
        return (Lease(item_id, owner, int(row["lease_token"]), now + seconds), _item(row)) if row else None

    def renew_leases(self, leases: Iterable[Lease], seconds: float) -> list[Lease]:
        """Extend leases still held under their tokens; returns the ones that were lost."""
        lost = []
        until = time.time() + seconds
        with self._tx() as c:
            for lease in leases:
                cur = c.execute(text("UPDATE items SET lease_expires = :until WHERE id = :id AND lease_token = :token"
                                     " AND lease_owner = :owner"),
                                {"until": until, "id": lease.item_id, "token": lease.token, "owner": lease.owner})
                if cur.rowcount != 1:
                    lost.append(lease)
        return lost

    def release_lease(self, lease: Lease) -> bool:
        """Give a lease back (nothing else changes); False if it had already been taken over."""
        with self._tx() as c:
            cur = c.execute(text("UPDATE items SET lease_owner = NULL, lease_expires = NULL"
                                 " WHERE id = :id AND lease_token = :token"), {"id": lease.item_id, "token": lease.token})
            return cur.rowcount == 1

    def save_outcome(self, lease: Lease, outcome: Outcome, calls: Sequence[ModelCall] = ()) -> Item | None:
        """Record where the item's thread stands and free the item, if the lease still holds: the item as saved, or
        None if fenced out. The model calls made for it are logged in the same transaction (fenced out or not)."""
        return self._finish(lease, _outcome_fields(outcome), calls)

    def save_failure(self, lease: Lease, error: str, calls: Sequence[ModelCall] = ()) -> Item | None:
        """Mark a leased item failed (it is retried by the next run), if the lease still holds; the item as saved."""
        return self._finish(lease, {"status": "failed", "error": error}, calls)

    def return_to_review(self, lease: Lease, error: str, calls: Sequence[ModelCall] = ()) -> Item | None:
        """Put a leased item whose waiting decision could not be applied back in the review queue, as it was shown
        (its line and checkpoint), with `error` saying why, if the lease still holds; the item as saved."""
        return self._finish(lease, {"status": "review", "resume_json": None, "error": error}, calls)

    def _finish(self, lease: Lease, fields: dict[str, Any], calls: Sequence[ModelCall]) -> Item | None:
        with self._tx() as c:
            self._log_calls(c, calls)
            return self._save(c, lease, fields)

    def _save(self, c: Connection, lease: Lease, fields: dict[str, Any]) -> Item | None:
        # Saving ends the work on the item: the writer's lease and the reviewer's claim are both released.
        fields = {**fields, "updated_at": time.time()}
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        row = c.execute(text(f"UPDATE items SET {cols}, lease_owner = NULL, lease_expires = NULL,"
                             " claimed_by = NULL, claim_expires = NULL"
                             " WHERE id = :id AND lease_token = :token AND lease_owner = :owner RETURNING *"),
                        {**fields, "id": lease.item_id, "token": lease.token, "owner": lease.owner}).mappings().first()
        return _item(row) if row else None

    def reset_item(self, item_id: int, **fields: Any) -> None:
        """Overwrite item columns outside any lease (tests and repairs: simulating a crash, re-queueing)."""
        if "findings" in fields:
            findings = fields.pop("findings")
            fields["findings_json"] = _dump_findings(findings)
            fields["blocking"] = sum(1 for f in findings if f.severity == "high")
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx() as c:
            c.execute(text(f"UPDATE items SET {cols} WHERE id = :id"), {**fields, "id": item_id})

    # decisions -------------------------------------------------------------------------------------

    def begin_decision(self, item_id: int, reviewer: str, owner: str, seconds: float,
                       checkpoint_id: str | None = None, dead: Sequence[str] = ()) -> Lease | None:
        """Lease an item waiting for review for a reviewer's decision; None if it is not waiting, another reviewer
        holds it, another process is advancing it, or (given `checkpoint_id`) it no longer shows that checkpoint."""
        now = time.time()
        shown = " AND checkpoint_id = :cp" if checkpoint_id is not None else ""
        free, dead_args = _free_lease(dead)
        dead_claim = f" OR lease_owner IN ({', '.join(':' + k for k in dead_args)})" if dead_args else ""
        args = {"id": item_id, "owner": owner, "me": reviewer, "now": now, "until": now + seconds, "cp": checkpoint_id,
                **dead_args}
        with self._tx() as c:
            row = c.execute(text(
                "UPDATE items SET lease_owner = :owner, lease_expires = :until, lease_token = lease_token + 1,"
                " claimed_by = :me, claim_expires = :until"
                f" WHERE id = :id AND status = 'review' AND {free}{shown}"
                # A claim made by a decision whose process died goes with that process's lease.
                f" AND (claimed_by IS NULL OR claimed_by = :me OR claim_expires IS NULL OR claim_expires < :now{dead_claim})"
                " RETURNING lease_token"), args).first()
        return Lease(item_id, owner, int(row[0]), now + seconds) if row else None

    def record_decision(self, lease: Lease, outcome: Outcome, entry: AuditEntry, prospect: Prospect,
                        eval_verdict: str | None) -> int | None:
        """One transaction: the item's new state, its audit row, the eval case (if any) and the lease released.

        Returns the audit row's id, or None (and writes nothing) if the lease was taken over meanwhile.
        """
        return self._decided(lease, _outcome_fields(outcome), entry, prospect, eval_verdict, queue=False)

    def queue_decision(self, lease: Lease, entry: AuditEntry, prospect: Prospect, eval_verdict: str | None,
                       resume: dict[str, Any]) -> int | None:
        """One transaction: the decision left on the item for a worker to apply (the item queued, `resume`), its
        audit row, the eval case (if any), the job that applies it, and the lease released (PostgreSQL).

        Returns the audit row's id, or None (and writes nothing) if the lease was taken over meanwhile.
        """
        fields = {"status": "queued", "resume_json": json.dumps(resume), "error": None}
        return self._decided(lease, fields, entry, prospect, eval_verdict, queue=True)

    def _decided(self, lease: Lease, fields: dict[str, Any], entry: AuditEntry, prospect: Prospect,
                 eval_verdict: str | None, queue: bool) -> int | None:
        with self._tx() as c:
            if not self._save(c, lease, fields):
                return None
            audit_id = self._insert_audit(c, entry)
            if eval_verdict is not None:
                self._insert_eval_case(c, audit_id, entry, prospect, eval_verdict)
            if queue:
                jobqueue.defer(c, [lease.item_id])
            return audit_id

    def enqueue(self, run: str) -> int:
        """Enqueue a job for each item of the run that still needs the graph and has no job waiting; how many
        (PostgreSQL: workers run them)."""
        marks = ", ".join(f"'{s}'" for s in TODO_STATUSES)
        with self._tx() as c:
            waiting = {int(r[0]) for r in c.execute(text(jobqueue.WAITING_SQL), {"task": jobqueue.TASK})}
            ids = [int(r[0]) for r in c.execute(text(f"SELECT id FROM items WHERE run = :run AND status IN ({marks})"
                                                     " ORDER BY id"), {"run": run}) if int(r[0]) not in waiting]
            return jobqueue.defer(c, ids)

    def last_audit_row(self, item_id: int) -> tuple[int, AuditEntry] | None:
        """The item's newest audit row and its id (None if it has none)."""
        rows = self._rows("SELECT * FROM audit_log WHERE item_id = :id ORDER BY id DESC LIMIT 1", {"id": item_id})
        return (int(rows[0]["id"]), _audit(rows[0])) if rows else None

    def last_decision_by(self, reviewer: str, since: float) -> int | None:
        """The item of the reviewer's newest decision since `since` that is not an undo (None if there is none)."""
        rows = self._rows("SELECT item_id FROM audit_log WHERE reviewer = :me AND at >= :since AND action != 'undo'"
                          " ORDER BY id DESC LIMIT 1", {"me": reviewer, "since": since})
        return int(rows[0]["item_id"]) if rows else None

    def recent_decisions(self, reviewer: str, since: float, limit: int = 20) -> list[tuple[int, AuditEntry]]:
        """The reviewer's decisions since `since` that are still their item's newest audit row, newest first."""
        rows = self._rows("SELECT a.* FROM audit_log AS a WHERE a.reviewer = :me AND a.at >= :since"
                          " AND a.action NOT IN ('undo', 'regenerate')"
                          " AND a.id = (SELECT MAX(b.id) FROM audit_log AS b WHERE b.item_id = a.item_id)"
                          " ORDER BY a.id DESC LIMIT :limit", {"me": reviewer, "since": since, "limit": limit})
        return [(int(r["item_id"]), _audit(r)) for r in rows]

    def record_undo(self, item_id: int, undone: int, expect_status: str, outcome: Outcome, audit_pending: bool,
                    entry: AuditEntry) -> bool:
        """One transaction: the item back to what it showed before decision `undone` (claimed by the reviewer), an
        `undo` audit row, and that decision's eval case withdrawn. False (nothing written) if anything moved since:
        a newer decision, a lease, an export."""
        now = time.time()
        fields = {**_outcome_fields(outcome), "updated_at": now}
        if audit_pending:
            # The audit draw was the service's, not the thread's: the line stays the audit sample it was.
            for kept in ("audit_sample", "audit_rate", "audit_reason"):
                fields.pop(kept)
            fields.update(audited_at=None, audited_by=None)
        cols = ", ".join(f"{k} = :{k}" for k in fields)
        with self._tx() as c:
            newest = c.execute(text("SELECT MAX(id) FROM audit_log WHERE item_id = :id"), {"id": item_id}).scalar()
            if newest != undone:
                return False
            cur = c.execute(text(
                f"UPDATE items SET {cols}, claimed_by = :me, claim_expires = :claim WHERE id = :id AND status = :was"
                f" AND exported_at IS NULL AND {_LEASE_FREE}"),
                {**fields, "id": item_id, "was": expect_status, "me": entry.reviewer, "claim": now + 300, "now": now})
            if cur.rowcount != 1:
                return False
            self._insert_audit(c, entry)
            c.execute(text("UPDATE eval_cases SET withdrawn_at = :now, withdrawn_by = :me WHERE audit_id = :undone"
                           " AND withdrawn_at IS NULL"), {"now": now, "me": entry.reviewer, "undone": undone})
            return True

    def mark_exported(self, item_ids: Iterable[int]) -> None:
        """Note that these items' lines went out in an export (their decisions can no longer be undone)."""
        ids = list(item_ids)
        with self._tx() as c:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join(f":i{k}" for k in range(len(chunk)))
                c.execute(text(f"UPDATE items SET exported_at = :now WHERE exported_at IS NULL AND id IN ({marks})"),
                          {"now": time.time(), **{f"i{k}": v for k, v in enumerate(chunk)}})

    def record_audit(self, item_id: int, reviewer: str, status: str, final_line: str | None,
                     entry: AuditEntry, prospect: Prospect, eval_verdict: str | None) -> int | None:
        """One transaction: a sampled auto-approved line's audit verdict, its audit row and eval case.

        None (nothing written) if the item is not waiting for an audit that this reviewer may do.
        """
        now = time.time()
        with self._tx() as c:
            cur = c.execute(text(
                "UPDATE items SET status = :status, final_line = :final, audited_at = :now, audited_by = :me,"
                " claimed_by = NULL, claim_expires = NULL, updated_at = :now"
                f" WHERE id = :id AND {AUDIT_PENDING} AND {FREE}"),
                {"status": status, "final": final_line, "now": now, "me": reviewer, "id": item_id})
            if cur.rowcount != 1:
                return None
            audit_id = self._insert_audit(c, entry)
            if eval_verdict is not None:
                self._insert_eval_case(c, audit_id, entry, prospect, eval_verdict)
            return audit_id

    def audit_evidence(self, gate: Mapping[str, Any]) -> tuple[int, int]:
        """Audits so far of lines auto-approved by one gate (tier, prompt_version, drafter_model, critic_model,
        checks_hash, threshold): how many, and how many the auditor changed or rejected."""
        where = " AND ".join(f"{k} = :{k}" for k in GATE_KEY)
        (row,) = self._rows(f"SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN status != 'auto_approved' THEN 1 ELSE 0"
                            f" END), 0) AS k FROM items"
                            f" WHERE audited_at IS NOT NULL AND route = 'auto' AND {where}",
                            {k: gate.get(k) for k in GATE_KEY})
        return int(row["n"]), int(row["k"])

    # audit log and eval cases ---------------------------------------------------------------------

    @staticmethod
    def _insert_audit(c: Connection, e: AuditEntry) -> int:
        content = {
            "item_id": e.item_id, "run": e.run, "at": e.at, "reviewer": e.reviewer, "action": e.action,
            "original_line": e.original_line, "final_line": e.final_line, "categories_json": json.dumps(e.categories),
            "note": e.note, "findings_json": _dump_findings(e.findings), "confidence": e.confidence,
            "prompt_version": e.prompt_version, "drafter_model": e.drafter_model, "critic_model": e.critic_model,
            "duration_ms": e.duration_ms, "status_after": e.status_after, "identity": e.identity,
            "checkpoint_id": e.checkpoint_id}
        # The caller's write transaction holds SQLite's database lock, so the head cannot move under us; PostgreSQL
        # locks the head row until the transaction ends, so two writers queue instead of forking the chain.
        lock = " FOR UPDATE" if c.dialect.name == "postgresql" else ""
        head = c.execute(text(f"SELECT count, last_hash FROM audit_head WHERE id = 1{lock}")).one()
        digest = row_hash(head.last_hash, content)
        row = c.execute(_AUDIT_INSERT, {**content, "prev_hash": head.last_hash, "hash": digest}).first()
        c.execute(text("UPDATE audit_head SET count = count + 1, last_hash = :h WHERE id = 1"), {"h": digest})
        assert row is not None
        return int(row[0])

    @staticmethod
    def _insert_eval_case(c: Connection, audit_id: int, e: AuditEntry, prospect: Prospect, verdict: str,
                          source: str = "override", label: str | None = None, errors: list[str] | None = None) -> bool:
        key = case_key(prospect.model_dump(), e.original_line)
        # The same prospect and AI line is one case: a second override of it (after an undo, or a rerun) or a
        # second import adds nothing; only a withdrawn case makes room for a new one.
        if c.execute(text("SELECT 1 FROM eval_cases WHERE case_key = :k AND withdrawn_at IS NULL"),
                     {"k": key}).first() is not None:
            return False
        c.execute(_EVAL_INSERT, {
            "item_id": e.item_id, "audit_id": audit_id, "created_at": e.at, "run": e.run,
            "prospect_json": prospect.model_dump_json(), "prompt_version": e.prompt_version, "ai_line": e.original_line,
            "findings_json": _dump_findings(e.findings), "confidence": e.confidence, "verdict": verdict,
            "final_line": e.final_line, "categories_json": json.dumps(e.categories), "note": e.note,
            "reviewer": e.reviewer, "case_key": key, "split": split_of(key), "source": source, "label": label,
            "errors_json": json.dumps(errors or [])})
        return True

    def import_eval_cases(self, cases: Iterable[tuple[Prospect, str, str | None, list[str], str | None]],
                          source_name: str) -> tuple[int, int]:
        """Store imported cases (prospect, AI line, label, errors, final line) in one transaction; (added, already
        there)."""
        added = known = 0
        now = time.time()
        with self._tx() as c:
            for prospect, line, label, errors, final in cases:
                verdict = {"good": "approve", "bad": "reject"}.get(label or "", "import")
                entry = AuditEntry(item_id=0, run=f"import:{source_name}", reviewer="import", action="import",
                                   original_line=line, final_line=final, categories=list(errors), at=now)
                if self._insert_eval_case(c, 0, entry, prospect, verdict, source="import", label=label,
                                          errors=list(errors)):
                    added += 1
                else:
                    known += 1
        return added, known

    def audit_log(self, item_id: int | None = None) -> list[AuditEntry]:
        """Audit rows, oldest first, optionally for one item."""
        sql, args = "SELECT * FROM audit_log", {}  # type: tuple[str, dict[str, Any]]
        if item_id is not None:
            sql, args = sql + " WHERE item_id = :id", {"id": item_id}
        return [_audit(r) for r in self._rows(sql + " ORDER BY id", args)]

    def last_decisions(self, run: str) -> dict[int, tuple[str | None, str | None]]:
        """Per item of a run, the status and final line its last audit row recorded."""
        rows = self._rows("SELECT a.item_id, a.status_after, a.final_line FROM audit_log AS a JOIN (SELECT item_id,"
                          " MAX(id) AS id FROM audit_log WHERE run = :run GROUP BY item_id) AS last ON a.id = last.id",
                          {"run": run})
        return {r["item_id"]: (r["status_after"], r["final_line"]) for r in rows}

    def eval_cases(self) -> list[dict[str, Any]]:
        """Every saved eval case, oldest first, with JSON columns decoded."""
        out = []
        for r in self._rows("SELECT * FROM eval_cases ORDER BY id"):
            d = dict(r)
            for key in ("prospect_json", "findings_json", "categories_json", "errors_json"):
                d[key.removesuffix("_json")] = json.loads(d.pop(key))
            out.append(d)
        return out

    # model call log -------------------------------------------------------------------------------

    def log_llm_call(self, call: ModelCall) -> None:
        """Log one attempt of a model call: the raw request, the raw answer (or error), its thread and latency."""
        with self._tx() as c:
            self._log_calls(c, [call])

    @staticmethod
    def _log_calls(c: Connection, calls: Sequence[ModelCall]) -> None:
        if not calls:
            return
        c.execute(_CALL_INSERT, [
            {"at": call.at, "role": call.role, "model": call.model, "thread": call.thread,
             "prompt": json.dumps(call.request, default=str), "response": call.response,
             # instructor's retry errors quote every attempt: megabytes for one item, uncapped.
             "error": cap(call.error, ERROR_LIMIT) if call.error is not None else None,
             "ms": call.duration_ms, "attempt": call.attempt} for call in calls])

    # prompt versions ------------------------------------------------------------------------------

    def register_prompt(self, kind: str, version: str, sha256: str, description: str = "") -> str | None:
        """Record a prompt version at first use; returns the hash recorded before if it differs (changed in place)."""
        with self._tx() as c:
            # ON CONFLICT: workers starting together on a new version all register it, and none fails for it.
            c.execute(text("INSERT INTO prompt_versions (version, kind, sha256, description, first_used_at)"
                           " VALUES (:v, :k, :h, :d, :t) ON CONFLICT (version) DO NOTHING"),
                      {"v": version, "k": kind, "h": sha256, "d": description, "t": time.time()})
            known = c.execute(text("SELECT sha256 FROM prompt_versions WHERE version = :v"), {"v": version}).one()
            return None if known[0] == sha256 else str(known[0])

    def add_policy_version(self, path: str, sha256: str, parent_sha256: str | None, summary: str,
                           data: Mapping[str, Any]) -> int:
        """Record a policy file written by calibration, with the data it was fitted on; its version number."""
        with self._tx() as c:
            row = c.execute(text("INSERT INTO policy_versions (created_at, path, sha256, parent_sha256, summary,"
                                 " data_json) VALUES (:t, :p, :h, :parent, :s, :d) RETURNING id"),
                            {"t": time.time(), "p": path, "h": sha256, "parent": parent_sha256, "s": summary,
                             "d": json.dumps(data, default=str)}).first()
        assert row is not None
        return int(row[0])

    def policy_versions(self) -> list[RowMapping]:
        """Every policy version calibration wrote, oldest first."""
        return self._rows("SELECT * FROM policy_versions ORDER BY id")

    def prompt_versions(self) -> list[RowMapping]:
        """Every prompt version used so far, with its recorded hash."""
        return self._rows("SELECT * FROM prompt_versions ORDER BY kind, first_used_at")

    # reviewer accounts ----------------------------------------------------------------------------

    def put_reviewer(self, name: str, salt: bytes, digest: bytes, cost: tuple[int, int, int], replace: bool) -> bool:
        """Store a reviewer's password hash; False (nothing written) if the name exists and `replace` is off."""
        n, r, p = cost
        args = {"name": name, "salt": salt, "hash": digest, "n": n, "r": r, "p": p, "t": time.time()}
        with self._tx() as c:
            exists = c.execute(text("SELECT 1 FROM reviewers WHERE name = :name"), {"name": name}).first()
            if exists and not replace:
                return False
            if exists:
                c.execute(text("UPDATE reviewers SET salt = :salt, hash = :hash, n = :n, r = :r, p = :p,"
                               " created_at = :t WHERE name = :name"), args)
            else:
                c.execute(text("INSERT INTO reviewers (name, salt, hash, n, r, p, created_at)"
                               " VALUES (:name, :salt, :hash, :n, :r, :p, :t)"), args)
            return True

    def delete_reviewer(self, name: str) -> bool:
        """Delete a reviewer account; False if there was none."""
        with self._tx() as c:
            return c.execute(text("DELETE FROM reviewers WHERE name = :name"), {"name": name}).rowcount == 1

    def reviewer_rows(self, name: str | None = None) -> list[RowMapping]:
        """Reviewer accounts (one, or all by name), with their hashes, for the accounts module."""
        if name is None:
            return self._rows("SELECT * FROM reviewers ORDER BY name")
        return self._rows("SELECT * FROM reviewers WHERE name = :name", {"name": name})


# What makes one gate: audit evidence and calibration hold for lines routed under the same values of these.
GATE_KEY: tuple[str, ...] = ("tier", "prompt_version", "drafter_model", "critic_model", "checks_hash", "threshold")
# The queue's SQL pieces live beside the store that runs them.
AUDIT_PENDING = "status = 'auto_approved' AND audit_sample = 1 AND audited_at IS NULL"
FREE = "(claimed_by IS NULL OR claimed_by = :me OR claim_expires IS NULL OR claim_expires < :now)"


def _item(row: RowMapping) -> Item:
    d = dict(row)
    resume = d.pop("resume_json")
    return Item(
        original=json.loads(d.pop("original_json")),
        prospect=Prospect.model_validate_json(d.pop("prospect_json")),
        findings=[Finding.model_validate(f) for f in json.loads(d.pop("findings_json"))],
        audit_sample=bool(d.pop("audit_sample")),
        shadow=bool(d.pop("shadow")),
        resume=json.loads(resume) if resume is not None else None,
        **{k: v for k, v in d.items() if k != "blocking"},
    )


def _audit(row: RowMapping) -> AuditEntry:
    d = dict(row)
    d.pop("id")
    return AuditEntry(
        categories=json.loads(d.pop("categories_json")),
        findings=[Finding.model_validate(f) for f in json.loads(d.pop("findings_json"))],
        **d,
    )
