"""Eval runs in the database: each run's configuration and report, and its results one by one as they finish.

A result is written the moment its model calls return, in its own transaction, so a run that is stopped (Ctrl-C,
a crash, kill -9) keeps every finished case; the same command again finds the unfinished run by its configuration
key and runs only what is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from evals.fewshot import approved_as_is
from firstpass.db.evalcases import case_key

_SAVE = text(
    "INSERT INTO eval_results (run_id, kind, case_key, variant, repeat, result_json, prompt_hash, at)"
    " VALUES (:run_id, :kind, :case_key, :variant, :repeat, :result, :prompt_hash, :at)"
    " ON CONFLICT (run_id, kind, case_key, variant, repeat) DO NOTHING")


@dataclass(frozen=True)
class StoredResult:
    """One finished job of an eval run: which case, which variant and repeat, and what came out."""

    kind: str
    case_key: str
    variant: str
    repeat: int
    result: dict[str, Any]
    prompt_hash: str | None = None


@dataclass(frozen=True)
class JudgedLine:
    """A line whose human verdict is known: approved as is (ok) or not, with the categories the human gave."""

    key: str
    prospect: dict[str, Any]
    line: str
    ok: bool
    categories: tuple[str, ...]
    source: str


class EvalRuns:
    """The eval-run tables of one store."""

    def __init__(self, tx: Callable[[], AbstractContextManager[Connection]],
                 rows: Callable[[str, dict[str, Any]], list[RowMapping]]) -> None:
        """Work through the store's transaction and query helpers."""
        self._tx, self._rows = tx, rows

    def open(self, config_key: str, config: dict[str, Any], set_hash: str) -> tuple[int, bool]:
        """The unfinished run with this configuration if there is one (resumed: True), else a new run."""
        with self._tx() as c:
            row = c.execute(text("SELECT id FROM eval_runs WHERE config_key = :k AND finished_at IS NULL"
                                 " ORDER BY id DESC LIMIT 1"), {"k": config_key}).first()
            if row is not None:
                return int(row[0]), True
            new = c.execute(text("INSERT INTO eval_runs (config_key, config_json, set_hash, created_at)"
                                 " VALUES (:k, :c, :s, :t) RETURNING id"),
                            {"k": config_key, "c": json.dumps(config, sort_keys=True), "s": set_hash,
                             "t": time.time()}).first()
            assert new is not None
            return int(new[0]), False

    def save(self, run_id: int, result: StoredResult) -> None:
        """Store one finished job (a second save of the same job keeps the first)."""
        with self._tx() as c:
            c.execute(_SAVE, {"run_id": run_id, "kind": result.kind, "case_key": result.case_key,
                              "variant": result.variant, "repeat": result.repeat,
                              "result": json.dumps(result.result, ensure_ascii=False),
                              "prompt_hash": result.prompt_hash, "at": time.time()})

    def results(self, run_id: int) -> list[StoredResult]:
        """The finished jobs of a run, in the order they finished."""
        rows = self._rows("SELECT * FROM eval_results WHERE run_id = :r ORDER BY at", {"r": run_id})
        return [StoredResult(r["kind"], r["case_key"], r["variant"], int(r["repeat"]), json.loads(r["result_json"]),
                             r["prompt_hash"]) for r in rows]

    def finish(self, run_id: int, report: dict[str, Any]) -> None:
        """Mark a run finished and keep its report."""
        with self._tx() as c:
            c.execute(text("UPDATE eval_runs SET finished_at = :t, report_json = :r WHERE id = :id"),
                      {"t": time.time(), "r": json.dumps(report, ensure_ascii=False), "id": run_id})

    def runs(self, limit: int | None = None, finished_only: bool = False) -> list[dict[str, Any]]:
        """Eval runs, newest first, with configuration and report decoded."""
        where = " WHERE finished_at IS NOT NULL" if finished_only else ""
        sql = f"SELECT * FROM eval_runs{where} ORDER BY id DESC" + (" LIMIT :n" if limit else "")
        return [_run(r) for r in self._rows(sql, {"n": limit} if limit else {})]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One eval run, or None."""
        rows = self._rows("SELECT * FROM eval_runs WHERE id = :id", {"id": run_id})
        return _run(rows[0]) if rows else None

    def judged_lines(self) -> list[JudgedLine]:
        """Every line a human judged and did not undo: overrides and labelled imports (eval cases, not withdrawn)
        and lines approved as is in the panel, one per case key."""
        seen: dict[str, JudgedLine] = {}
        for r in self._rows("SELECT case_key, prospect_json, ai_line, verdict, label, categories_json, errors_json,"
                            " source FROM eval_cases WHERE withdrawn_at IS NULL AND ai_line IS NOT NULL ORDER BY id",
                            {}):
            ok = approved_as_is(dict(r))
            if ok is None:
                continue  # an import without a label says nothing of the line
            cats = tuple(json.loads(r["errors_json"]) or json.loads(r["categories_json"]))
            seen.setdefault(r["case_key"], JudgedLine(r["case_key"], json.loads(r["prospect_json"]), r["ai_line"], ok,
                                                      () if ok else cats, str(r["source"])))
        for r in _approvals(self._rows):
            prospect = json.loads(r["prospect_json"])
            key = case_key(prospect, r["original_line"])
            seen.setdefault(key, JudgedLine(key, prospect, r["original_line"], True, (), "approval"))
        return list(seen.values())


def _approvals(rows: Callable[[str, dict[str, Any]], list[RowMapping]]) -> Iterator[RowMapping]:
    # An approval as is, not followed by an undo of the same item (an undo takes back the item's newest decision).
    yield from rows(
        "SELECT a.original_line, i.prospect_json FROM audit_log AS a JOIN items AS i ON i.id = a.item_id"
        " WHERE a.action = 'approve' AND a.original_line IS NOT NULL"
        " AND (a.final_line IS NULL OR a.final_line = a.original_line)"
        " AND NOT EXISTS (SELECT 1 FROM audit_log AS u WHERE u.item_id = a.item_id AND u.action = 'undo'"
        " AND u.id = (SELECT MIN(n.id) FROM audit_log AS n WHERE n.item_id = a.item_id AND n.id > a.id))"
        " ORDER BY a.id", {})


def _run(row: RowMapping) -> dict[str, Any]:
    d = dict(row)
    d["config"] = json.loads(d.pop("config_json"))
    report = d.pop("report_json")
    d["report"] = json.loads(report) if report else None
    return d
