"""The audit log's hash chain: tampering by REPLACE, by a dropped trigger, by a dropped or emptied table, and with
the exported line, each shows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstpass.cli import main
from firstpass.db import AuditLogError, Store
from firstpass.export import ExportError, export_run
from firstpass.service import Firstpass
from firstpass.settings import load_settings
from graph.human import Decision

from fakes import FakeDrafter
from tests.conftest import AppFactory, load_items, prospect
from tests.test_graph import bad_line


@pytest.fixture
def decided(make_app: AppFactory) -> Iterator[Firstpass]:
    """An app whose run r has three decided items: approved, rejected, edited."""
    app = make_app(drafter=FakeDrafter(bad_line))
    load_items(app, "r", [prospect(i) for i in range(3)])
    ids = [app.process(item).id for item in app.store.items(run="r")]
    app.decide(ids[0], Decision(action="approve", reviewer="ana"))
    app.decide(ids[1], Decision(action="reject", reviewer="ana", categories=["spammy"]))
    app.decide(ids[2], Decision(action="edit", reviewer="ben", line="The new office is a big step for Harbor 2 Freight."))
    yield app


def _sql(app: Firstpass, *statements: str) -> None:
    conn = sqlite3.connect(app.store.path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_intact_chain_verifies(decided: Firstpass, capsys: pytest.CaptureFixture[str]) -> None:
    assert decided.store.verify_audit_log().ok
    assert _verify(capsys) == (0, f"audit log intact: 3 row(s), head {decided.store.verify_audit_log().head[:16]}\n")


@pytest.mark.sqlite("tampers with the SQLite file directly; PostgreSQL's triggers: test_workers.py")
def test_insert_or_replace_is_caught(decided: Firstpass, capsys: pytest.CaptureFixture[str]) -> None:
    row = decided.store.query("SELECT * FROM audit_log WHERE id = 2")[0]
    _sql(decided, "INSERT OR REPLACE INTO audit_log (id, item_id, run, at, reviewer, action, original_line, final_line,"
                  f" prev_hash, hash) VALUES (2, {row['item_id']}, 'r', {row['at']}, 'mallory', 'approve', 'x', 'x',"
                  f" '{row['prev_hash']}', '{row['hash']}')")
    code, out = _verify(capsys)
    assert code == 1 and "audit row 2 was changed after it was written" in out


@pytest.mark.sqlite("tampers with the SQLite file directly; PostgreSQL's triggers: test_workers.py")
def test_a_dropped_trigger_and_an_edit_is_caught(decided: Firstpass, capsys: pytest.CaptureFixture[str]) -> None:
    _sql(decided, "DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET reviewer = 'mallory' WHERE id = 3",
         "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END")
    code, out = _verify(capsys)
    assert code == 1 and "audit row 3 was changed" in out and "after 2 good row(s)" in out


@pytest.mark.sqlite("tampers with the SQLite file directly; PostgreSQL's triggers: test_workers.py")
def test_a_removed_row_is_caught(decided: Firstpass, capsys: pytest.CaptureFixture[str]) -> None:
    _sql(decided, "DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE id = 2")
    code, out = _verify(capsys)
    assert code == 1 and "audit row 3 does not follow the row before it" in out
    with pytest.raises(AuditLogError, match="holds 2 row\\(s\\) but 3 were written"):
        Store(decided.store.path)


@pytest.mark.sqlite("tampers with the SQLite file directly; PostgreSQL's triggers: test_workers.py")
@pytest.mark.parametrize("how", ["drop", "empty"])
def test_a_dropped_or_emptied_log_stops_every_start(decided: Firstpass, how: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = decided.store.path
    assert path is not None
    decided.close()
    conn = sqlite3.connect(path)
    if how == "drop":
        conn.execute("DROP TABLE audit_log")
    else:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log")
    conn.commit()
    conn.close()
    with pytest.raises(AuditLogError, match="dropped or damaged" if how == "drop" else "emptied"):
        Store(path)
    code, out = _verify(capsys)
    assert code == 1
    assert main(["items", "--run", "r"]) == 1  # every command refuses, saying why
    assert "audit" in capsys.readouterr().err
    # Never silently recreated: the table is still gone (or empty) after all those starts.
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert ("audit_log" in tables) == (how == "empty")


@pytest.mark.sqlite("tampers with the SQLite file directly; PostgreSQL's triggers: test_workers.py")
def test_export_refuses_a_final_line_changed_outside_firstpass(decided: Firstpass, tmp_path: Path) -> None:
    export_run(decided.store, "r", tmp_path / "ok.csv")
    approved = decided.store.items(run="r", status="approved")[0]
    _sql(decided, f"UPDATE items SET final_line = '=HYPERLINK(\"http://evil.example\")' WHERE id = {approved.id}")
    with pytest.raises(ExportError, match=f"item\\(s\\) {approved.id} differs from the last decision"):
        export_run(decided.store, "r", tmp_path / "tampered.csv")


def test_legacy_rows_are_chained_by_the_migration(tmp_path: Path) -> None:
    (tmp_path / "firstpass.db").write_bytes((Path(__file__).parent / "data" / "legacy-main-7c119ab.db").read_bytes())
    store = Store(load_settings({"FIRSTPASS_HOME": str(tmp_path)}).db_path)
    verdict = store.verify_audit_log()
    assert verdict.ok and verdict.rows == 4
    store.close()
