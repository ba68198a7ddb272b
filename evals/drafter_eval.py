"""The drafter eval: draft each test case's line with two prompt versions, gate both, and compare them, paired.

Plain functions over plain values: the caller supplies `draft(version, case, repeat)` and `gate(case, line)`,
so the same code runs on fakes in tests and on real models from the command line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from evals.stats import Interval, Paired, mcnemar_exact, wilson


@dataclass(frozen=True)
class EvalCase:
    """One test case: a key, the prospect record, and the line a human settled on (if any)."""

    key: str
    prospect: dict[str, Any]
    final: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One drafted line for one case under one version: did it pass the gate, and what fired."""

    case: str
    version: str
    repeat: int
    line: str
    passed: bool
    categories: tuple[str, ...] = ()
    similarity: float | None = None
    error: str | None = None


@dataclass
class VersionSummary:
    """A version's figures over the cases: pass rate with its interval, categories that fired, flaky cases."""

    version: str
    passed: Interval
    categories: Counter[str] = field(default_factory=Counter)
    flaky: list[str] = field(default_factory=list)
    mean_similarity: float | None = None


@dataclass
class Comparison:
    """Baseline against candidate on the same cases, with the exact paired test and the verdict in words."""

    baseline: VersionSummary
    candidate: VersionSummary
    paired: Paired
    newly_failing: list[str]
    newly_fixed: list[str]


def similarity(line: str, final: str | None) -> float | None:
    """How close a drafted line is to the human's line, 0 to 100 (rapidfuzz), or None without a human line."""
    return None if not final else float(fuzz.ratio(line, final))


def case_passed(outcomes: Iterable[Outcome]) -> bool:
    """A case passes for a version when every repeat passed the gate."""
    return all(o.passed for o in outcomes)


def summarise(version: str, outcomes: list[Outcome], cases: list[EvalCase]) -> VersionSummary:
    """A version's pass rate (a case passes when all its repeats did), its categories and its flaky cases."""
    by_case: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_case.setdefault(o.case, []).append(o)
    keys = [c.key for c in cases if c.key in by_case]
    passed = sum(case_passed(by_case[k]) for k in keys)
    categories: Counter[str] = Counter(cat for o in outcomes for cat in o.categories)
    flaky = [k for k in keys if len({o.passed for o in by_case[k]}) > 1]
    sims = [o.similarity for o in outcomes if o.similarity is not None]
    return VersionSummary(version, wilson(passed, len(keys)), categories, flaky,
                          sum(sims) / len(sims) if sims else None)


def compare(cases: list[EvalCase], baseline: str, candidate: str, outcomes: list[Outcome]) -> Comparison:
    """Pair the two versions case by case: newly failing, newly fixed, and the exact McNemar test."""
    def by(version: str) -> dict[str, bool]:
        grouped: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if o.version == version:
                grouped.setdefault(o.case, []).append(o)
        return {k: case_passed(v) for k, v in grouped.items()}

    old, new = by(baseline), by(candidate)
    keys = [c.key for c in cases if c.key in old and c.key in new]
    return Comparison(
        baseline=summarise(baseline, [o for o in outcomes if o.version == baseline], cases),
        candidate=summarise(candidate, [o for o in outcomes if o.version == candidate], cases),
        paired=mcnemar_exact([old[k] for k in keys], [new[k] for k in keys]),
        newly_failing=[k for k in keys if old[k] and not new[k]],
        newly_fixed=[k for k in keys if new[k] and not old[k]],
    )


def run_case(case: EvalCase, version: str, repeat: int, draft: Callable[[str, EvalCase, int], str],
             gate: Callable[[EvalCase, str], tuple[bool, tuple[str, ...]]]) -> Outcome:
    """Draft and gate one case once; a model error is an outcome that fails, never a crash of the run."""
    try:
        line = draft(version, case, repeat)
        passed, categories = gate(case, line)
    except Exception as exc:  # noqa: BLE001 - one case's failure is that case's result
        return Outcome(case.key, version, repeat, "", False, ("other",), None, f"{type(exc).__name__}: {exc}"[:300])
    return Outcome(case.key, version, repeat, line, passed, categories, similarity(line, case.final))


def report(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-able data with stable keys."""
    def version(s: VersionSummary) -> dict[str, Any]:
        return {"version": s.version, "cases": s.passed.n, "passed": s.passed.k, "pass_rate": s.passed.rate,
                "wilson_95": [s.passed.low, s.passed.high], "categories": dict(s.categories),
                "flaky_cases": s.flaky, "mean_similarity": s.mean_similarity}

    return {"baseline": version(comparison.baseline), "candidate": version(comparison.candidate),
            "paired": {"n": comparison.paired.n, "newly_fixed": len(comparison.newly_fixed),
                       "newly_failing": len(comparison.newly_failing), "mcnemar_exact_p": comparison.paired.p_value},
            "verdict": comparison.paired.verdict,
            "newly_fixed_cases": comparison.newly_fixed, "newly_failing_cases": comparison.newly_failing}
