"""Calibrating the gate with a guarantee: isotonic calibration of the critic's confidence, and the threshold chosen
by Learn-then-Test with fixed-sequence testing (Angelopoulos, Bates, Candès, Jordan, Lei, 2021).

Each calibration line is one a human judged as the gate saw it: its critic confidence, whether the gate could
auto-approve it at all (no rule fired, no check failed, no blocking critic finding), and whether the human
changed or rejected it (a miss, had it been auto-approved). Candidate thresholds are fixed in advance, strictest
first. At each, with n eligible lines at or above it and k misses among them, the p-value of "the miss rate is
above alpha" is BinomCDF(k; n, alpha). Testing goes on while p <= delta and stops at the first that fails; the last
that passed is certified. Then, with probability at least 1 - delta, the miss rate among lines the gate
auto-approves at that threshold is at most alpha, for new lines like the calibration lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from scipy.stats import beta, binom, mannwhitneyu

# 1.00, 0.99, ..., 0.00: fixed before any verdict is seen, strictest first.
GRID: tuple[float, ...] = tuple(round(1 - i / 100, 2) for i in range(101))
# The one candidate left when the confidence carries no signal: every eligible line, whatever its confidence.
NO_WEIGHT = 0.0


@dataclass(frozen=True)
class CalibrationLine:
    """One human-judged line as the gate saw it."""

    confidence: float | None
    eligible: bool
    miss: bool


@dataclass(frozen=True)
class Calibrated:
    """The critic's confidence mapped to the chance a human approves the line as is (isotonic), and whether it
    carries any signal at all."""

    signal: bool
    p_value: float
    auc: float | None
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    base_rate: float = 0.0

    def predict(self, confidence: float) -> float:
        """The calibrated chance of approval at a confidence (the base rate when there is no signal)."""
        if not self.signal or not self.xs:
            return self.base_rate
        import numpy as np

        return float(np.interp(confidence, self.xs, self.ys))


def calibrate(lines: Sequence[CalibrationLine]) -> Calibrated:
    """Fit P(approved as is | confidence) by isotonic regression on eligible lines with a confidence.

    The confidence has a signal when approved lines have higher confidence than changed ones (one-sided
    Mann-Whitney, p <= 0.05); without it the fit is flat at the base rate and the confidence gets no weight.
    """
    judged = [(float(x.confidence), not x.miss) for x in lines if x.eligible and x.confidence is not None]
    approved = [c for c, ok in judged if ok]
    changed = [c for c, ok in judged if not ok]
    base = len(approved) / len(judged) if judged else 0.0
    if not approved or not changed:
        return Calibrated(False, 1.0, None, base_rate=base)
    test = mannwhitneyu(approved, changed, alternative="greater")
    auc = float(test.statistic) / (len(approved) * len(changed))
    if float(test.pvalue) > 0.05:
        return Calibrated(False, float(test.pvalue), auc, base_rate=base)
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit([c for c, _ in judged], [float(ok) for _, ok in judged])
    xs = tuple(float(x) for x in model.X_thresholds_)
    ys = tuple(float(y) for y in model.y_thresholds_)
    return Calibrated(True, float(test.pvalue), auc, xs, ys, base)


@dataclass(frozen=True)
class Step:
    """One candidate threshold: what it would auto-approve, how many of those humans changed, and its test."""

    threshold: float
    n: int
    misses: int
    auto_rate: float
    upper: float
    p_value: float
    passed: bool
    calibrated: float | None = None

    @property
    def miss_rate(self) -> float | None:
        """Misses among the lines it would auto-approve (None when it approves none)."""
        return self.misses / self.n if self.n else None


@dataclass(frozen=True)
class Certificate:
    """The outcome of Learn-then-Test: the certified threshold (None if none), the whole trade-off curve, and, when
    nothing is certified, how many more verdicts would be needed and why."""

    alpha: float
    delta: float
    lines: int
    eligible: int
    threshold: float | None
    steps: tuple[Step, ...]
    calibration: Calibrated
    needed: int | None = None
    reason: str = ""
    tested: int = field(default=0)

    @property
    def certified(self) -> Step | None:
        """The step of the certified threshold."""
        return next((s for s in self.steps if s.threshold == self.threshold), None)

    def guarantee(self) -> str:
        """The guarantee in words (or why there is none)."""
        if self.threshold is None:
            return self.reason
        step = self.certified
        assert step is not None
        return (f"With probability at least {1 - self.delta:.0%}, the miss rate among lines auto-approved at confidence "
                f">= {self.threshold:.2f} is at most {self.alpha:.1%} (here {step.misses} of {step.n} changed by "
                f"humans; {step.auto_rate:.0%} of lines auto-approved), as long as new lines look like these "
                f"{self.lines}: same prompt version, models and checks.")


def min_clean_lines(alpha: float, delta: float) -> int:
    """The fewest auto-approvable lines, none missed, that can certify a miss rate of alpha at level delta."""
    return math.ceil(math.log(delta) / math.log(1 - alpha))


def verdicts_needed(misses: int, n: int, alpha: float, delta: float) -> int | None:
    """How many more auto-approvable lines, missed at the share seen so far, certify alpha; None if that share is
    alpha or more (more of the same cannot certify it)."""
    if n and misses / n >= alpha:
        return None
    rate = misses / n if n else 0.0
    total = max(n, min_clean_lines(alpha, delta))
    while binom.cdf(math.floor(rate * total), total, alpha) > delta:
        total = max(total + 1, int(total * 1.05))
    low = max(n, min_clean_lines(alpha, delta))
    while low < total:  # the smallest total that certifies at the same miss share
        mid = (low + total) // 2
        if binom.cdf(math.floor(rate * mid), mid, alpha) <= delta:
            total = mid
        else:
            low = mid + 1
    return total - n


def learn_then_test(lines: Sequence[CalibrationLine], alpha: float = 0.02, delta: float = 0.05,
                    grid: Sequence[float] = GRID) -> Certificate:
    """Certify the loosest confidence threshold, tested strictest first, whose miss rate is at most alpha.

    A candidate that would auto-approve fewer than `min_clean_lines` lines cannot pass whatever the verdicts say,
    so it is passed over rather than tested (that depends on the confidences only, never on the verdicts).
    """
    import numpy as np

    calibration = calibrate(lines)
    candidates = list(grid) if calibration.signal else [NO_WEIGHT]
    eligible = [x for x in lines if x.eligible and x.confidence is not None]
    conf = np.array([float(x.confidence or 0.0) for x in eligible])
    order = np.argsort(-conf, kind="stable")
    conf_desc = conf[order]
    missed = np.concatenate([[0], np.cumsum(np.array([x.miss for x in eligible], dtype=int)[order])])
    total, smallest = len(lines), min_clean_lines(alpha, delta)
    steps: list[Step] = []
    certified: float | None = None
    stopped = False
    tested = 0
    # Lines at or above a threshold are the first n of the descending order; every candidate's figures at once.
    ns = (np.searchsorted(-conf_desc, -np.array(candidates), side="right") if calibration.signal
          else np.array([len(eligible)]))
    ks = missed[ns]
    ps = np.where(ns > 0, binom.cdf(ks, ns, alpha), 1.0)
    uppers = np.where(ks < ns, beta.ppf(1 - delta, ks + 1, np.maximum(ns - ks, 1)), 1.0)
    for threshold, n, k, p, upper in zip(candidates, ns.tolist(), ks.tolist(), ps.tolist(), uppers.tolist(),
                                         strict=True):
        testable = n >= smallest and not stopped
        passed = testable and p <= delta
        if testable:
            tested += 1
            certified = threshold if passed else certified
            stopped = not passed  # fixed sequence: the first failure ends the testing
        steps.append(Step(threshold, n, k, n / total if total else 0.0, upper, p, passed,
                          calibration.predict(threshold)))
    needed, reason = None, ""
    if certified is None:
        needed, reason = _why_none(steps, alpha, delta)
    return Certificate(alpha, delta, total, len(eligible), certified, tuple(steps), calibration, needed, reason, tested)


def _why_none(steps: Sequence[Step], alpha: float, delta: float) -> tuple[int | None, str]:
    """How many more verdicts the most promising threshold needs, and the refusal in words."""
    smallest = min_clean_lines(alpha, delta)
    options = [(verdicts_needed(s.misses, s.n, alpha, delta), s) for s in steps if s.n]
    hopeful = [(n, s) for n, s in options if n is not None]
    if not options:
        return smallest, (f"Nothing certified: no line the gate could auto-approve has a human verdict yet; at least "
                          f"{smallest} with no miss are needed for alpha = {alpha:.1%}, delta = {delta:.0%} "
                          "(shadow mode gathers them).")
    if not hopeful:
        loosest = options[-1][1]
        return None, (f"Nothing certified: at every threshold, humans changed {alpha:.1%} or more of the lines the "
                      f"gate would auto-approve (all of them: {loosest.misses} of {loosest.n}); more verdicts of the "
                      "same kind cannot certify any threshold. Improve the drafter or the checks first.")
    more, best = min(hopeful, key=lambda pair: (pair[0], -pair[1].n))
    return more, (f"Nothing certified: at confidence >= {best.threshold:.2f} the gate would auto-approve {best.n} judged "
                  f"lines, {best.misses} changed by humans; at least {smallest} with no miss are needed for "
                  f"alpha = {alpha:.1%}, delta = {delta:.0%}. About {more} more verdicts on such lines are needed "
                  "(shadow mode gathers them).")


def curve(certificate: Certificate) -> list[Step]:
    """The trade-off curve without repeats: one step per distinct set of auto-approved lines, strictest first."""
    out: list[Step] = []
    for step in certificate.steps:
        if step.n and (not out or out[-1].n != step.n):
            out.append(step)
        elif out and out[-1].n == step.n and step.passed:
            out[-1] = step  # the loosest threshold with the same lines speaks for them
    return out
