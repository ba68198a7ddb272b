"""The audit log's hash chain: each row carries the hash of its content and of the row before it.

A row changed in place (a dropped trigger, an INSERT OR REPLACE), a row removed, or the log emptied or
dropped breaks the chain or disagrees with the chain's head (kept in `audit_head`, written in the same
transaction as each row), and `firstpass audit verify` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The columns a row's hash covers, in this order: everything but its id and the chain columns themselves.
CONTENT = ("item_id", "run", "at", "reviewer", "action", "original_line", "final_line", "categories_json", "note",
           "findings_json", "confidence", "prompt_version", "drafter_model", "critic_model", "duration_ms",
           "status_after")
LATER = ("identity", "checkpoint_id")
GENESIS = "0" * 64


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of one audit row: SHA-256 over the previous row's hash and the row's content as canonical JSON.

    Columns added later (identity) are covered when set, so the rows written before them keep their hashes.
    """
    values = [row[c] for c in CONTENT] + [row[c] for c in LATER if row.get(c) is not None]
    content = json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What walking the chain found: rows checked, and the first broken link (None when the chain holds)."""

    rows: int
    head: str
    broken: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every link holds and the head agrees."""
        return self.broken is None


def walk(rows: Iterable[Mapping[str, Any]], head_count: int | None, head_hash: str | None) -> Verdict:
    """Check every row's link to the one before it and its content, then the head (count and last hash)."""
    prev, n = GENESIS, 0
    for row in rows:
        n += 1
        if row["prev_hash"] != prev:
            return Verdict(n, prev, f"audit row {row['id']} does not follow the row before it (a row was removed "
                                    "or inserted)")
        expected = row_hash(prev, row)
        if row["hash"] != expected:
            return Verdict(n, prev, f"audit row {row['id']} was changed after it was written (its content no "
                                    "longer matches its hash)")
        prev = expected
    if head_count is None:
        return Verdict(n, prev, "the audit log's head record is missing")
    if n != head_count or prev != (head_hash or GENESIS):
        return Verdict(n, prev, f"the audit log holds {n} row(s) but {head_count} were written (rows were removed, "
                                "or the log was emptied or replaced)")
    return Verdict(n, prev)
