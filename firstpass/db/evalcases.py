"""Eval cases' identity and split: the same prospect and AI line is one case, and its split is drawn once, seeded.

A case's key hashes the prospect record and the AI's line; its split (`train` for few-shot examples and prompt
refinement, `test` for judging) is drawn from that key with a fixed seed when the case is first stored, and never
changes, so nothing used to build a prompt is used to judge it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SPLIT_SEED = "firstpass-eval-split-v1"
TEST_SHARE = 0.3


def case_key(prospect: dict[str, Any], ai_line: str | None) -> str:
    """The identity of a case: the record (without its id) and the line the AI wrote."""
    record = {k: v for k, v in prospect.items() if k != "id" and v}
    payload = json.dumps([record, " ".join((ai_line or "").split())], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def split_of(key: str, seed: str = SPLIT_SEED, test_share: float = TEST_SHARE) -> str:
    """The split a case key falls in: `test` for a seeded `test_share` of keys, `train` for the rest."""
    draw = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64
    return "test" if draw < test_share else "train"
