"""The review queue: order, filters, leases, and refusals when two reviewers reach for the same item; on both
backends (the SQLite file and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstpass.db import Store, reviewqueue
from firstpass.service import DecisionError, Firstpass
from graph.human import Decision

from ui_support import CONFIDENCES, LINES, csv_rows, id_of, load_csv, make_app, scripted_app

ROWS = [
    ("1", "Amara", "Delta Roofing", "Austin", "Won a roofing award."),
    ("2", "Bo", "Beta Labs", "Boise", "Opened a lab."),
    ("3", "Cy", "Acme Dental", "Reno", "Opened a clinic."),
    ("4", "Di", "Gamma Co", "Tulsa", "Hired a CFO."),  # clean line: auto-approved
]


@pytest.fixture
def app(tmp_path: Path, database: str | None) -> Iterator[Firstpass]:
    a = scripted_app(tmp_path, ROWS, database=database)
    yield a
    a.close()


def test_queue_order_matches_pending(app: Firstpass) -> None:
    expected = [i.id for i in app.pending()]
    assert [id_of(app, c) for c in ("Acme Dental", "Beta Labs", "Delta Roofing")] == expected
    got: list[int] = []
    while (item_id := reviewqueue.claim_next(app.store, f"r{len(got)}")) is not None:
        got.append(item_id)  # each reviewer's live lease keeps the next one off that item
        assert len(got) <= 3
    assert got == expected
    assert reviewqueue.count(app.store, "alice").left == 3


def test_second_reviewer_gets_the_next_item(app: Firstpass) -> None:
    first = reviewqueue.claim_next(app.store, "alice")
    second = reviewqueue.claim_next(app.store, "bob")
    assert first is not None and second is not None and first != second
    assert not reviewqueue.claim(app.store, first, "bob")
    assert reviewqueue.holder(app.store, first)[0] == "alice"
    assert reviewqueue.count(app.store, "bob") == reviewqueue.QueueCount(left=3, held_by_others=1)
    # A reviewer's own live lease comes back first (a reloaded page keeps its item).
    assert reviewqueue.claim_next(app.store, "alice") == first


def test_expired_lease_frees_the_item(app: Firstpass) -> None:
    first = reviewqueue.claim_next(app.store, "alice", seconds=-1)
    assert reviewqueue.holder(app.store, first) is None
    assert reviewqueue.claim_next(app.store, "bob") == first


def test_release_only_by_the_holder(app: Firstpass) -> None:
    first = reviewqueue.claim_next(app.store, "alice")
    assert not reviewqueue.release(app.store, first, "bob")
    assert reviewqueue.release(app.store, first, "alice")
    assert reviewqueue.claim_next(app.store, "bob") == first


def test_exclude_skips_items(app: Firstpass) -> None:
    first = id_of(app, "Acme Dental")
    assert reviewqueue.claim_next(app.store, "alice", exclude=[first]) == id_of(app, "Beta Labs")


def test_filters_by_run_and_category(app: Firstpass) -> None:
    load_csv(app, "r2", csv_rows([("9", "Ed", "Beta Labs", "Omaha", "Opened a lab.")]))
    assert reviewqueue.count(app.store, run="r2").left == 1
    assert reviewqueue.count(app.store, run="r1").left == 3
    assert reviewqueue.count(app.store).left == 4
    assert reviewqueue.count(app.store, category="spammy").left == 2  # Acme (spammy.term) and Delta
    assert reviewqueue.count(app.store, category="pricing", run="r1").left == 2
    assert reviewqueue.count(app.store, category="tone").left == 0
    picked = reviewqueue.claim_next(app.store, "alice", run="r2")
    assert app.item(picked).run == "r2"
    assert reviewqueue.claim_next(app.store, "alice", category="tone") is None


def test_concurrent_claims_never_share_an_item(app: Firstpass) -> None:
    got: list[int | None] = []
    barrier = threading.Barrier(6)

    def take(name: str) -> None:
        barrier.wait()
        got.append(reviewqueue.claim_next(app.store, name))

    threads = [threading.Thread(target=take, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [g for g in got if g is not None]
    assert len(ids) == 3 and len(set(ids)) == 3  # three pending items, three winners, three with nothing
    assert got.count(None) == 3


def test_decision_on_an_item_held_by_someone_else_is_refused(app: Firstpass) -> None:
    item_id = reviewqueue.claim_next(app.store, "alice")
    before = app.item(item_id)
    with pytest.raises(DecisionError, match="alice"):
        app.decide(item_id, Decision(action="approve", reviewer="bob"))
    after = app.item(item_id)
    assert after.status == "review" and after.draft == before.draft and after.claimed_by == "alice"
    assert app.store.audit_log(item_id) == []
    app.decide(item_id, Decision(action="approve", reviewer="alice"))
    assert app.item(item_id).status == "approved"


def test_decision_on_an_item_already_decided_is_refused(app: Firstpass) -> None:
    item_id = reviewqueue.claim_next(app.store, "alice")
    app.decide(item_id, Decision(action="reject", reviewer="alice", categories=["pricing"]))
    cases = len(app.store.eval_cases())
    with pytest.raises(DecisionError, match=r"already decided \(reject\) by alice.*nothing changed"):
        app.decide(item_id, Decision(action="approve", reviewer="bob"))
    assert app.item(item_id).status == "rejected"
    assert len(app.store.audit_log(item_id)) == 1 and len(app.store.eval_cases()) == cases
    assert not reviewqueue.claim(app.store, item_id, "bob")


# audit samples ------------------------------------------------------------------------------------------


@pytest.fixture
def audit_app(tmp_path: Path, database: str | None) -> Iterator[Firstpass]:
    a = make_app(tmp_path, LINES, confidences=CONFIDENCES, audit_rate=1.0, database=database)
    load_csv(a, "r1", csv_rows(ROWS))
    yield a
    a.close()


def test_audit_samples_come_after_flagged_items(audit_app: Firstpass) -> None:
    audit_id = id_of(audit_app, "Gamma Co")
    item = audit_app.item(audit_id)
    assert item.status == "auto_approved" and item.audit_sample and item.audit_pending
    order = []
    while (item_id := reviewqueue.claim_next(audit_app.store, "alice", exclude=order)) is not None:
        order.append(item_id)
    assert order[-1] == audit_id and len(order) == 4


def _checkpoints(app: Firstpass) -> int:
    return int(app.store.query("SELECT COUNT(*) AS n FROM checkpoints")[0]["n"])


def test_audit_approve_keeps_the_line_without_resuming_the_graph(audit_app: Firstpass) -> None:
    audit_id = id_of(audit_app, "Gamma Co")
    before, checkpoints = audit_app.item(audit_id), _checkpoints(audit_app)
    after = audit_app.audit(audit_id, Decision(action="approve", reviewer="alice", duration_ms=1200))
    assert _checkpoints(audit_app) == checkpoints
    assert after.status == "auto_approved" and after.final_line == before.final_line
    assert after.audited_by == "alice" and after.audited_at is not None and not after.audit_pending
    [row] = audit_app.store.audit_log(audit_id)
    assert (row.action, row.reviewer, row.final_line, row.duration_ms) == ("approve", "alice", before.final_line, 1200)
    assert audit_app.store.eval_cases() == []  # the gate was right: nothing to learn
    assert reviewqueue.count(audit_app.store).left == 3
    with pytest.raises(DecisionError, match="already audited by alice"):
        audit_app.audit(audit_id, Decision(action="reject", reviewer="bob", categories=["tone"]))
    assert len(audit_app.store.audit_log(audit_id)) == 1


def test_audit_edit_and_reject_change_the_item_and_save_eval_cases(audit_app: Firstpass, tmp_path: Path) -> None:
    load_csv(audit_app, "r2", csv_rows([("7", "Flo", "Omega Inc", "Fresno", "Hired a CFO.")]))
    edited_id, rejected_id = id_of(audit_app, "Gamma Co"), id_of(audit_app, "Omega Inc")
    line = "Gamma Co hiring a CFO is a big step."
    edited = audit_app.audit(edited_id, Decision(action="edit", reviewer="alice", line=line, force=True))
    assert edited.status == "approved" and edited.final_line == line
    rejected = audit_app.audit(rejected_id, Decision(action="reject", reviewer="bob", categories=["tone"], note="meh"))
    assert rejected.status == "rejected" and rejected.final_line is None
    cases = {c["item_id"]: c for c in audit_app.store.eval_cases()}
    assert cases[edited_id]["verdict"] == "edit" and cases[edited_id]["final_line"] == line
    assert cases[rejected_id]["verdict"] == "reject" and cases[rejected_id]["categories"] == ["tone"]
    assert cases[rejected_id]["prospect"]["company"] == "Omega Inc"


def test_audit_refuses_regenerate_and_unforced_edit_that_fires(audit_app: Firstpass) -> None:
    audit_id = id_of(audit_app, "Gamma Co")
    with pytest.raises(DecisionError, match="cannot be regenerated"):
        audit_app.audit(audit_id, Decision(action="regenerate", reviewer="alice", note="x"))
    with pytest.raises(DecisionError, match="rules still fire"):
        audit_app.audit(audit_id, Decision(action="edit", reviewer="alice", line="Buy now, 50% off!!"))
    assert audit_app.item(audit_id).audit_pending and audit_app.store.audit_log(audit_id) == []


def test_audit_held_by_someone_else_is_refused(audit_app: Firstpass) -> None:
    audit_id = id_of(audit_app, "Gamma Co")
    assert reviewqueue.claim(audit_app.store, audit_id, "alice")
    with pytest.raises(DecisionError, match="being audited by alice"):
        audit_app.audit(audit_id, Decision(action="approve", reviewer="bob"))
    assert audit_app.item(audit_id).audit_pending


# The schema as firstpass created it before migrations were recorded (main at 7c119ab).
LEGACY_SCHEMA = """
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


def test_old_database_gains_the_audit_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_schema = LEGACY_SCHEMA.replace("    audited_at REAL,\n    audited_by TEXT,\n", "")
    assert "audited_at" not in old_schema
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute("INSERT INTO runs (name, created_at) VALUES ('old', 0)")
    conn.execute("INSERT INTO items (run, prospect_id, prospect_json, status, audit_sample, created_at, updated_at)"
                 " VALUES ('old', 'p1', '{\"first_name\": \"A\", \"company\": \"B\"}', 'auto_approved', 1, 0, 0)")
    conn.commit()
    conn.close()
    store = Store(path)
    item = store.items()[0]
    assert item.audit_pending and item.audited_at is None
    assert reviewqueue.count(store).left == 1
    indexes = {r["name"] for r in store.query("PRAGMA index_list(items)")}
    assert "items_audit_queue" in indexes
    store.close()


def test_queue_queries_stay_cheap(tmp_path: Path) -> None:
    """The queue's SQL reads only pending rows, through the status indexes, never a whole run or every approval."""
    store = Store(tmp_path / "x.db")
    for run, category in ((None, None), ("r1", None), ("r1", "pricing")):
        sql = (f"EXPLAIN QUERY PLAN SELECT id FROM items WHERE {reviewqueue._where(store, run, category)}"
               f" AND {reviewqueue.FREE} {reviewqueue.ORDER} LIMIT 1")
        args = {"me": "x", "now": time.time(), "run": run, "category": category}
        plan = " | ".join(r["detail"] for r in store.query(sql, args))
        assert "USING INDEX items_status (status=?)" in plan, plan
        assert "USING INDEX items_audit_queue" in plan, plan
        assert "SCAN items" not in plan and "autoindex" not in plan, plan
    store.close()
