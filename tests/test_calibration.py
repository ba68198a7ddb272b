"""Calibration with a guarantee: isotonic calibration and Learn-then-Test on hand-made tables and in simulation."""

from __future__ import annotations

import numpy as np
import pytest

from evals.calibration import (
    CalibrationLine,
    calibrate,
    curve,
    learn_then_test,
    min_clean_lines,
    verdicts_needed,
)


def lines(confidence: float, n: int, misses: int = 0, eligible: bool = True) -> list[CalibrationLine]:
    return [CalibrationLine(confidence, eligible, i < misses) for i in range(n)]


def test_min_clean_lines_matches_the_published_figure() -> None:
    assert min_clean_lines(0.02, 0.05) == 149  # 0.98^149 = 0.0494 <= 0.05 < 0.98^148 = 0.0504
    assert min_clean_lines(0.05, 0.1) == 45


def test_isotonic_calibration_recovers_the_approval_rate_per_confidence() -> None:
    table = lines(0.2, 100, misses=80) + lines(0.5, 100, misses=50) + lines(0.9, 100, misses=10)
    fitted = calibrate(table)
    assert fitted.signal and fitted.p_value < 1e-6 and 0.7 < (fitted.auc or 0) < 0.85
    assert [round(fitted.predict(c), 2) for c in (0.2, 0.5, 0.9)] == [0.2, 0.5, 0.9]
    assert fitted.predict(0.7) == pytest.approx(0.7)  # between the fitted points: interpolated, monotone


def test_a_confidence_without_signal_gets_no_weight() -> None:
    # The embedded critic's pattern: 0.0 or 1.0, and 1.0 is approved *less* often.
    table = lines(1.0, 55, misses=44) + lines(0.0, 35, misses=19)
    fitted = calibrate(table)
    assert not fitted.signal and fitted.predict(1.0) == fitted.predict(0.0) == pytest.approx(27 / 90)
    cert = learn_then_test(table)
    assert [s.threshold for s in cert.steps] == [0.0]  # the confidence is not used: one candidate, all lines
    assert cert.threshold is None and cert.needed is None and "cannot certify" in cert.reason


def test_ltt_certifies_the_loosest_threshold_before_the_first_failure() -> None:
    table = (lines(0.95, 200) + lines(0.5, 100, misses=10) + lines(0.99, 50, misses=50, eligible=False)
             + lines(0.1, 20, misses=15))
    cert = learn_then_test(table, alpha=0.02, delta=0.05)
    assert cert.calibration.signal
    # 0.95 .. 0.51 auto-approve the same 200 clean lines (p = 0.98^200 = 0.018); 0.50 adds 10 misses in 100: fails.
    assert cert.threshold == 0.51
    step = cert.certified
    assert step is not None and (step.n, step.misses) == (200, 0)
    assert step.p_value == pytest.approx(0.98 ** 200)
    assert step.auto_rate == pytest.approx(200 / 370)
    assert "at most 2.0%" in cert.guarantee() and "95%" in cert.guarantee()
    shown = curve(cert)
    assert [(s.threshold, s.n, s.passed) for s in shown] == [(0.51, 200, True), (0.5, 300, False), (0.1, 320, False)]
    # Candidates that approve too few lines to ever pass are passed over, not failed: 0.96 .. 1.0 approve none.
    assert all(not s.passed and s.n == 0 for s in cert.steps[:5])


def test_ltt_stops_at_the_first_failure_even_if_a_looser_one_would_pass() -> None:
    # 0.9: 150 lines with 4 misses fails; 0.5 adds 1000 clean lines (4 in 1150 would pass) but is never tested.
    table = lines(0.9, 150, misses=4) + lines(0.5, 1000) + lines(0.1, 200, misses=150)
    cert = learn_then_test(table, alpha=0.02, delta=0.05)
    assert cert.threshold is None and cert.tested == 1


def test_ltt_refuses_on_too_few_verdicts_and_names_how_many_more() -> None:
    table = lines(0.9, 100) + lines(0.3, 20, misses=20)
    cert = learn_then_test(table, alpha=0.02, delta=0.05)
    assert cert.threshold is None and cert.tested == 0
    assert cert.needed == 149 - 100 and "49 more verdicts" in cert.reason
    assert verdicts_needed(0, 0, 0.02, 0.05) == 149
    assert verdicts_needed(3, 100, 0.02, 0.05) is None  # 3% seen: more of the same never shows <= 2%
    assert verdicts_needed(1, 200, 0.02, 0.05) == 36  # 1 in 236 clean-ish lines is the first that certifies


def test_the_certified_thresholds_true_miss_rate_exceeds_alpha_in_at_most_about_delta_of_repetitions() -> None:
    # Confidence ~ U(0, 1); P(miss | c) = 0.15 (1 - c)^2, so the true miss rate at threshold t is 0.05 (1 - t)^2,
    # at most alpha = 0.02 exactly when t >= 1 - sqrt(0.4) = 0.3675.
    rng = np.random.default_rng(7)
    alpha, delta, reps, n = 0.02, 0.1, 300, 2500
    bad = certified = 0
    thresholds = []
    for _ in range(reps):
        conf = rng.random(n)
        miss = rng.random(n) < 0.15 * (1 - conf) ** 2
        cert = learn_then_test([CalibrationLine(float(c), True, bool(m)) for c, m in zip(conf, miss, strict=True)],
                               alpha=alpha, delta=delta)
        if cert.threshold is not None:
            certified += 1
            thresholds.append(cert.threshold)
            bad += 0.05 * (1 - cert.threshold) ** 2 > alpha
    assert certified >= 0.95 * reps  # enough data: something is certified almost every time
    assert bad / reps <= delta + 3 * (delta * (1 - delta) / reps) ** 0.5
    assert float(np.mean(thresholds)) < 0.55  # and it is not trivially strict: the guarantee has power
