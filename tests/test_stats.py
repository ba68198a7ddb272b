"""The statistics against hand-made tables with known answers."""

from __future__ import annotations

import pytest

from evals.stats import brier, clopper_pearson_upper, cohen_kappa, mcnemar_exact, reliability, wilson


def test_wilson_interval_matches_the_formula() -> None:
    # 17 of 20: Wilson 95% interval (0.6396, 0.9476), by the closed form.
    ci = wilson(17, 20)
    assert ci.rate == 0.85 and ci.low == pytest.approx(0.6396, abs=1e-4) and ci.high == pytest.approx(0.9476, abs=1e-4)
    # 850 of 1000: the same rate, a much tighter interval (the point promptfoo's "85%" hides).
    big = wilson(850, 1000)
    assert big.high - big.low < (ci.high - ci.low) / 4
    assert wilson(0, 0).low == 0.0 and wilson(0, 0).high == 1.0


def test_clopper_pearson_upper_bounds_match_published_values() -> None:
    assert clopper_pearson_upper(0, 500) == pytest.approx(0.0060, abs=1e-4)
    assert clopper_pearson_upper(1, 500) == pytest.approx(0.0095, abs=1e-4)
    assert clopper_pearson_upper(0, 149) < 0.02 < clopper_pearson_upper(0, 148)


def test_exact_mcnemar_and_its_verdict() -> None:
    # 10 cases newly fixed, 1 newly failing, 30 the same: two-sided exact p = 2 * P(X <= 1 | n=11, 1/2) = 0.01172.
    old = [False] * 10 + [True] + [True] * 15 + [False] * 15
    new = [True] * 10 + [False] + [True] * 15 + [False] * 15
    paired = mcnemar_exact(old, new)
    assert (paired.only_new, paired.only_old) == (10, 1)
    assert paired.p_value == pytest.approx(24 / 2048, rel=1e-6)
    assert paired.verdict == "improved"
    assert mcnemar_exact(new, old).verdict == "regressed"
    same = mcnemar_exact([True, False, True], [True, False, False])
    assert same.verdict == "no detectable difference at n = 3"
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def test_kappa_brier_and_reliability() -> None:
    # Agreement 0.7 against chance agreement 0.5: kappa 0.4.
    a = [True] * 5 + [False] * 5
    b = [True] * 4 + [False] + [False] * 3 + [True] * 2
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0
    assert brier([1.0, 0.0, 0.5], [True, False, True]) == pytest.approx(0.25 / 3)
    table = reliability([0.05, 0.15, 0.95, 0.97, 1.0], [False, False, True, False, True], buckets=10)
    assert [(b.low, b.n) for b in table] == [(0.0, 1), (0.1, 1), (0.9, 3)]
    assert table[-1].observed == pytest.approx(2 / 3) and table[-1].mean_confidence == pytest.approx(2.92 / 3)
