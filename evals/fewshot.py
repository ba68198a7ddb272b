"""Few-shot examples for the drafter: the human-approved lines (train split only) nearest to a prospect.

Nearness is rapidfuzz's token-set ratio over the parts of a record that say what kind of prospect it is
(industry, title, notes); the company and the names are left out so that an example is never picked, and then
copied, for a shared name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

PROFILE_FIELDS = ("industry", "title", "notes")


@dataclass(frozen=True)
class Example:
    """A train-split case whose line a human approved or wrote: the prospect and that line."""

    key: str
    prospect: Mapping[str, Any]
    line: str
    split: str = "train"


def approved_as_is(case: Mapping[str, Any]) -> bool | None:
    """The human verdict on an eval case's AI line (a store row): approved as is (True), fixed (False), or
    unknown (None: an import without a label)."""
    if case.get("label"):
        return bool(case["label"] == "good")
    if case.get("verdict") == "import":
        return None
    return bool(case.get("verdict") == "approve")


def human_line(case: Mapping[str, Any]) -> str | None:
    """The line a human settled on for an eval case (a store row): the one they wrote, or the AI's line they
    approved as is; None when neither."""
    if case.get("final_line"):
        return str(case["final_line"])
    return str(case["ai_line"]) if approved_as_is(case) and case.get("ai_line") else None


def profile(prospect: Mapping[str, Any]) -> str:
    """The text nearness is measured on: industry, title and notes."""
    return " ".join(str(prospect.get(f) or "") for f in PROFILE_FIELDS).strip()


def nearest(prospect: Mapping[str, Any], pool: Sequence[Example], k: int) -> list[Example]:
    """The k examples nearest to the prospect (ties: the earlier example); only train-split examples are drawn."""
    if k <= 0:
        return []
    leaked = [e.key for e in pool if e.split != "train"]
    if leaked:
        raise ValueError(f"few-shot examples must come from the train split; {len(leaked)} do not ({leaked[0]})")
    query = profile(prospect)
    scored = sorted(((-fuzz.token_set_ratio(query, profile(e.prospect)), i) for i, e in enumerate(pool)))
    return [pool[i] for _score, i in scored[:k]]
