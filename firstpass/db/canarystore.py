"""Canaries in the database: a check line's item (in the run CANARY_RUN, claimed by the reviewer it is for) and its
score, each written in one transaction."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from critics.findings import Finding
from critics.prospect import Prospect
from evals.canaries import Canary

# The run that holds check lines: left out of runs, exports, metrics and other reviewers' queues.
CANARY_RUN = "__checks__"


class Canaries:
    """Check lines: make one for a reviewer, find the one they hold, score their decision, list the scores."""

    def __init__(self, tx: Callable[[], AbstractContextManager[Connection]],
                 rows: Callable[[str, dict[str, Any]], list[RowMapping]]) -> None:
        """Use the store's write transactions and reads."""
        self._tx = tx
        self._rows = rows

    def add(self, reviewer: str, prospect: Prospect, canary: Canary, findings: Iterable[Finding],
            confidence: float | None, claim_seconds: float) -> int:
        """Store a check line as an item claimed by `reviewer`, and its canary row; the item's id."""
        now = time.time()
        found = [f.model_dump() for f in findings]
        with self._tx() as c:
            if c.execute(text("SELECT 1 FROM runs WHERE name = :n"), {"n": CANARY_RUN}).first() is None:
                c.execute(text("INSERT INTO runs (name, created_at, source) VALUES (:n, :t, 'check lines')"),
                          {"n": CANARY_RUN, "t": now})
            row = c.execute(text(
                "INSERT INTO items (run, prospect_id, prospect_json, status, draft, ai_line, findings_json, blocking,"
                " confidence, claimed_by, claim_expires, created_at, updated_at, prompt_version)"
                " VALUES (:run, :pid, :prospect, 'review', :line, :line, :findings, :blocking, :conf, :me, :until,"
                " :now, :now, NULL) RETURNING id"),
                {"run": CANARY_RUN, "pid": f"check-{uuid.uuid4().hex[:12]}", "prospect": prospect.model_dump_json(),
                 "line": canary.line, "findings": json.dumps(found),
                 "blocking": sum(1 for f in found if f["severity"] == "high"), "conf": confidence, "me": reviewer,
                 "until": now + claim_seconds, "now": now}).first()
            assert row is not None
            c.execute(text("INSERT INTO canaries (item_id, reviewer, kind, category, wrong, shown_at)"
                           " VALUES (:id, :me, :kind, :cat, :wrong, :now)"),
                      {"id": row[0], "me": reviewer, "kind": canary.kind, "cat": canary.category,
                       "wrong": canary.wrong, "now": now})
            return int(row[0])

    def pending(self, reviewer: str) -> int | None:
        """The item of the reviewer's undecided check line, if they have one."""
        rows = self._rows("SELECT item_id FROM canaries WHERE reviewer = :me AND decided_at IS NULL"
                          " ORDER BY id LIMIT 1", {"me": reviewer})
        return int(rows[0]["item_id"]) if rows else None

    def of_item(self, item_id: int) -> RowMapping | None:
        """The canary row of a check line's item, or None for a real item."""
        rows = self._rows("SELECT * FROM canaries WHERE item_id = :id", {"id": item_id})
        return rows[0] if rows else None

    def record(self, item_id: int, reviewer: str, action: str, caught: bool, duration_ms: float | None) -> bool:
        """Score the reviewer's decision on their check line and close it, in one transaction; False (nothing
        written) if it is not their undecided check line."""
        now = time.time()
        with self._tx() as c:
            cur = c.execute(text("UPDATE canaries SET decided_at = :now, action = :action, caught = :caught,"
                                 " duration_ms = :ms WHERE item_id = :id AND reviewer = :me AND decided_at IS NULL"),
                            {"now": now, "action": action, "caught": int(caught), "ms": duration_ms, "id": item_id,
                             "me": reviewer})
            if cur.rowcount != 1:
                return False
            c.execute(text("UPDATE items SET status = :status, claimed_by = NULL, claim_expires = NULL,"
                           " updated_at = :now WHERE id = :id"),
                      {"status": "rejected" if caught else "approved", "now": now, "id": item_id})
            return True

    def results(self, since: float | None = None) -> list[RowMapping]:
        """Every decided check line (optionally since a time), oldest first."""
        where = " AND decided_at >= :since" if since is not None else ""
        return self._rows(f"SELECT * FROM canaries WHERE decided_at IS NOT NULL{where} ORDER BY id",
                          {"since": since} if since is not None else {})

    def shown(self, reviewer: str) -> int:
        """How many check lines the reviewer has been given."""
        return int(self._rows("SELECT COUNT(*) AS n FROM canaries WHERE reviewer = :me", {"me": reviewer})[0]["n"])
