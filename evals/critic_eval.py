"""The critic eval: does the gate (rules and critic) agree with the humans, and does its confidence mean anything?

Over lines whose human verdict is known ("ok": approved as is; not ok: edited, rejected or regenerated), a line
counts as flagged when the gate would send it to review. The positive class is a bad line: precision is the share
of flagged lines the human also fixed, recall the share of fixed lines the gate flagged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from evals.stats import brier, cohen_kappa, reliability, share


@dataclass(frozen=True)
class CriticOutcome:
    """The gate's answer on one human-judged line, next to the human's."""

    key: str
    ok: bool
    flagged: bool
    confidence: float | None = None
    categories: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    human_categories: tuple[str, ...] = ()
    failed: bool = False


def critic_report(outcomes: list[CriticOutcome], prompt: str) -> dict[str, Any]:
    """Confusion matrix, precision and recall (overall and per category), kappa next to the base rate, per-rule
    precision, and the calibration of the confidence (reliability buckets, Brier) as JSON-able data."""
    bad = [not o.ok for o in outcomes]
    flagged = [o.flagged for o in outcomes]
    tp = sum(f and b for f, b in zip(flagged, bad, strict=True))
    fp = sum(f and not b for f, b in zip(flagged, bad, strict=True))
    fn = sum(b and not f for f, b in zip(flagged, bad, strict=True))
    tn = len(outcomes) - tp - fp - fn
    per_category = []
    for category in sorted({c for o in outcomes for c in (*o.categories, *o.human_categories)}):
        said = [category in o.categories for o in outcomes]
        truth = [category in o.human_categories for o in outcomes]
        hits = sum(s and t for s, t in zip(said, truth, strict=True))
        per_category.append({"category": category, "flagged": sum(said), "support": sum(truth),
                             "precision": share(hits, sum(said)), "recall": share(hits, sum(truth))})
    fired: Counter[str] = Counter(code for o in outcomes for code in set(o.rules))
    on_ok: Counter[str] = Counter(code for o in outcomes if o.ok for code in set(o.rules))
    per_rule = [{"code": code, "fired": n, "on_approved": on_ok[code], "precision": (n - on_ok[code]) / n}
                for code, n in sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))]
    scored = [o for o in outcomes if o.confidence is not None]
    confidences = [float(o.confidence) for o in scored if o.confidence is not None]
    approved = [o.ok for o in scored]
    return {
        "prompt": prompt, "n": len(outcomes), "critic_failed": sum(o.failed for o in outcomes),
        "base_rate_bad": share(sum(bad), len(outcomes)),
        "confusion": {"flagged_bad": tp, "flagged_ok": fp, "passed_bad": fn, "passed_ok": tn},
        "precision": share(tp, tp + fp), "recall": share(tp, tp + fn),
        "kappa": cohen_kappa(flagged, bad) if outcomes else None,
        "brier": brier(confidences, approved) if scored else None,
        "per_category": per_category, "per_rule": per_rule,
        "reliability": [{"low": b.low, "high": b.high, "n": b.n, "mean_confidence": b.mean_confidence,
                         "observed": b.observed} for b in reliability(confidences, approved)],
    }
