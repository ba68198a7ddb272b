"""The review queue over the store: what is pending, in what order, and who holds which item.

Pending means flagged (status 'review') or auto-approved and sampled for an audit nobody has done yet.
Opening an item takes a lease on it (claimed_by / claim_expires on the items row) so that two
reviewers never work the same item; a lease that runs out frees the item again. Every change is one
conditional UPDATE inside a write transaction, so two panels (or two processes) cannot both win.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text

from firstpass.db.canarystore import CANARY_RUN
from firstpass.db.store import AUDIT_PENDING, FREE, Item, Store, _item

DEFAULT_LEASE_SECONDS = 300.0

# Waiting for a human, and not being advanced by a process right now (a decision or a regenerate in flight).
PENDING = (f"(status = 'review' OR ({AUDIT_PENDING}))"
           " AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires < :now)"
           # A check line is in the queue of the reviewer it was made for, and nobody else's.
           f" AND (run != '{CANARY_RUN}' OR claimed_by = :me)")
# The queue order, defined here only. Flagged lines first (they hold up a send; audits are after the fact), then
# the reviewer's own live claim (a reloaded page gets its item back), then the most severe: most blocking
# findings, then lowest critic confidence (none counts as lowest), then age.
ORDER = ("ORDER BY CASE WHEN status = 'auto_approved' THEN 1 ELSE 0 END,"
         " CASE WHEN claimed_by = :me AND claim_expires >= :now THEN 1 ELSE 0 END DESC,"
         " blocking DESC, COALESCE(confidence, -1.0), created_at, id")


@dataclass(frozen=True)
class QueueCount:
    """How many items are pending under a filter, and how many of those other reviewers hold right now."""

    left: int
    held_by_others: int


def _where(store: Store, run: str | None, category: str | None) -> str:
    sqlite = store.engine.dialect.name == "sqlite"
    sql = PENDING
    if run:
        # "+run" keeps SQLite from reading the whole run through its (run, prospect_id) index: the pending
        # rows, found through the status indexes, are few; a run can hold many thousands of decided ones.
        sql += " AND +run = :run" if sqlite else " AND run = :run"
    if category and sqlite:
        sql += (" AND EXISTS (SELECT 1 FROM json_each(items.findings_json) AS f"
                " WHERE json_extract(f.value, '$.category') = :category)")
    elif category:
        sql += (" AND EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(items.findings_json AS jsonb)) AS f"
                " WHERE f ->> 'category' = :category)")
    return sql


def _args(reviewer: str, run: str | None, category: str | None, **more: Any) -> dict[str, Any]:
    return {"me": reviewer, "now": time.time(), "run": run, "category": category, **more}


def claim(store: Store, item_id: int, reviewer: str, seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Take (or renew) the lease on one pending item; False if it is not pending or someone else holds it."""
    with store._tx() as c:
        cur = c.execute(text(f"UPDATE items SET claimed_by = :me, claim_expires = :until WHERE id = :id AND {PENDING}"
                             f" AND {FREE}"), _args(reviewer, None, None, id=item_id, until=time.time() + seconds))
        return cur.rowcount == 1


def release(store: Store, item_id: int, reviewer: str) -> bool:
    """Give up the reviewer's lease on an item; False if they did not hold it."""
    with store._tx() as c:
        cur = c.execute(text("UPDATE items SET claimed_by = NULL, claim_expires = NULL WHERE id = :id AND claimed_by = :me"
                             " AND (lease_owner IS NULL OR lease_expires < :now)"),
                        {"id": item_id, "me": reviewer, "now": time.time()})
        return cur.rowcount == 1


def claim_next(store: Store, reviewer: str, seconds: float = DEFAULT_LEASE_SECONDS, run: str | None = None,
               category: str | None = None, exclude: Iterable[int] = ()) -> int | None:
    """Lease the most severe pending item that nobody else holds (leaving out `exclude`); its id, or None."""
    args = _args(reviewer, run, category, exclude=sorted(set(exclude)) or [-1], until=time.time() + seconds)
    # SQLite: the write transaction holds the database lock from the SELECT on, so nobody can take the row first.
    # PostgreSQL: the row is locked as it is picked, and rows other reviewers are picking are skipped, not waited on.
    lock = " FOR UPDATE SKIP LOCKED" if store.postgres else ""
    query = text(f"SELECT id FROM items WHERE {_where(store, run, category)} AND {FREE} AND id NOT IN :exclude"
                 f" {ORDER} LIMIT 1{lock}").bindparams(bindparam("exclude", expanding=True))
    with store._tx() as c:
        row = c.execute(query, args).first()
        if row is None:
            return None
        c.execute(text("UPDATE items SET claimed_by = :me, claim_expires = :until WHERE id = :id"),
                  {**args, "id": row[0]})
        return int(row[0])


def count(store: Store, reviewer: str = "", run: str | None = None, category: str | None = None) -> QueueCount:
    """Pending items under a filter, and how many of them other reviewers hold."""
    (row,) = store._rows(f"SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN claimed_by IS NOT NULL AND claimed_by != :me"
                         f" AND claim_expires >= :now THEN 1 ELSE 0 END), 0) AS held FROM items"
                         f" WHERE {_where(store, run, category)}",
                         _args(reviewer, run, category))
    return QueueCount(left=int(row["n"]), held_by_others=int(row["held"]))


def pending(store: Store, run: str | None = None, reviewer: str = "") -> list[Item]:
    """Every item waiting for a human under a filter, in queue order."""
    return [_item(r) for r in store._rows(f"SELECT * FROM items WHERE {_where(store, run, None)} {ORDER}",
                                          _args(reviewer, run, None))]


def holder(store: Store, item_id: int) -> tuple[str, float] | None:
    """Who holds a live claim on an item, and until when; None if nobody does."""
    rows = store._rows("SELECT claimed_by, claim_expires FROM items WHERE id = :id AND claimed_by IS NOT NULL"
                       " AND claim_expires >= :now", {"id": item_id, "now": time.time()})
    return (rows[0]["claimed_by"], rows[0]["claim_expires"]) if rows else None


def held(store: Store, reviewer: str) -> bool:
    """Whether the reviewer holds a live claim on a real pending item (a reloaded page gets it back first)."""
    rows = store._rows(f"SELECT 1 FROM items WHERE claimed_by = :me AND claim_expires >= :now AND {PENDING}"
                       f" AND run != '{CANARY_RUN}' LIMIT 1", _args(reviewer, None, None))
    return bool(rows)
