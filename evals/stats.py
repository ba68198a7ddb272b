"""The statistics the evals and the metrics report, as plain functions over counts and rows (scipy, scikit-learn).

Each returns plain numbers, so that a verdict in words can be built on them and tests can check them against
published values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import binomtest


@dataclass(frozen=True)
class Interval:
    """A proportion with its confidence interval."""

    k: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        """k / n (0 when n is 0)."""
        return self.k / self.n if self.n else 0.0


def share(k: int, n: int) -> float | None:
    """k / n, or None when n is 0 (a rate of nothing is not zero)."""
    return k / n if n else None


def wilson(k: int, n: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval for k successes in n trials."""
    if n == 0:
        return Interval(k, n, 0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(k, n, float(ci.low), float(ci.high))


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """The exact one-sided upper bound on a rate with k events in n trials."""
    if n == 0:
        return 1.0
    return float(binomtest(k, n, alternative="less").proportion_ci(confidence_level=confidence,
                                                                     method="exact").high)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact two-sided (Clopper-Pearson) interval on a rate with k events in n trials."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Paired:
    """Two versions judged on the same cases: how often each passed where the other did not, and the exact test."""

    n: int
    only_new: int
    only_old: int
    p_value: float

    @property
    def verdict(self) -> str:
        """The comparison in words: improved, regressed, or no detectable difference."""
        if self.p_value < 0.05 and self.only_new > self.only_old:
            return "improved"
        if self.p_value < 0.05 and self.only_old > self.only_new:
            return "regressed"
        return f"no detectable difference at n = {self.n}"


def mcnemar_exact(old: Sequence[bool], new: Sequence[bool]) -> Paired:
    """The exact (binomial) McNemar test on paired pass/fail outcomes of two versions over the same cases."""
    if len(old) != len(new):
        raise ValueError(f"paired outcomes must have the same length, not {len(old)} and {len(new)}")
    only_new = sum(1 for o, n in zip(old, new, strict=True) if n and not o)
    only_old = sum(1 for o, n in zip(old, new, strict=True) if o and not n)
    discordant = only_new + only_old
    p = 1.0 if discordant == 0 else float(binomtest(only_new, discordant, 0.5).pvalue)
    return Paired(len(old), only_new, only_old, p)


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa between two raters' yes/no labels (1 when both always agree, including all one label)."""
    from sklearn.metrics import cohen_kappa_score

    if list(a) == list(b):
        return 1.0
    return float(cohen_kappa_score([int(x) for x in a], [int(x) for x in b]))


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    """The Brier score of probabilities against what happened (0 is perfect)."""
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss([int(o) for o in outcomes], list(probabilities)))


@dataclass(frozen=True)
class Bucket:
    """One bucket of a reliability table: the confidence range, how many, and the share that came true."""

    low: float
    high: float
    n: int
    mean_confidence: float
    observed: float


def reliability(probabilities: Sequence[float], outcomes: Sequence[bool], buckets: int = 10) -> list[Bucket]:
    """Confidence buckets of equal width, each with its mean confidence and the share of outcomes that were true."""
    table = []
    for i in range(buckets):
        low, high = i / buckets, (i + 1) / buckets
        inside = [(p, o) for p, o in zip(probabilities, outcomes, strict=True)
                  if low <= p < high or (i == buckets - 1 and p == 1.0)]
        if inside:
            table.append(Bucket(low, high, len(inside), sum(p for p, _ in inside) / len(inside),
                                sum(1 for _, o in inside if o) / len(inside)))
    return table
