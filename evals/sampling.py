"""The audit rate that follows the evidence: audit every auto-approved line until the error among sent lines is
shown to be under the accepted rate, then sample less as the evidence grows, down to a floor.

The evidence is the audits of one gate (tier, prompt version, models, checks, threshold): n audited lines, k of
them changed or rejected by the auditor. The gate is *shown* safe when the exact one-sided 95% upper bound on
k / n is under the accepted error rate, which takes at least `clean_audits_needed(k, accepted)` audits. Past
that point the rate is needed / n: it halves each time the evidence doubles, never under the floor, and climbs
back to 1 when an audit finds an error that pushes the bound over (more audits are then needed) or when the gate
changes (its evidence starts again from nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from evals.formatting import pct, pct1
from evals.stats import clopper_pearson_upper


@lru_cache(maxsize=4096)
def clean_audits_needed(errors: int, accepted: float, confidence: float = 0.95) -> int:
    """The fewest audits with `errors` changed lines whose exact upper bound on the error rate is under `accepted`."""
    if errors == 0:
        # (1 - accepted)^n <= 1 - confidence: the closed form of the zero-event bound.
        n = math.ceil(math.log(1 - confidence) / math.log(1 - accepted))
        return n if clopper_pearson_upper(0, n, confidence) < accepted else n + 1
    low, high = errors, max(errors + 1, 2 * clean_audits_needed(0, accepted, confidence))
    while clopper_pearson_upper(errors, high, confidence) >= accepted:
        low, high = high, high * 2
    while low + 1 < high:  # the bound falls as n grows with k fixed: bisect for the first n under `accepted`
        mid = (low + high) // 2
        if clopper_pearson_upper(errors, mid, confidence) < accepted:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class AuditRate:
    """The rate at which the next auto-approved line is audited, the evidence behind it, and why, in words."""

    rate: float
    audited: int
    errors: int
    bound: float
    needed: int
    reason: str


def adaptive_rate(audited: int, errors: int, accepted: float, floor: float) -> AuditRate:
    """The audit rate for a gate whose audits so far found `errors` bad lines among `audited`."""
    bound = clopper_pearson_upper(errors, audited)
    needed = clean_audits_needed(errors, accepted)
    evidence = f"{errors} of {audited} audited lines changed, 95% bound on error among sent lines {pct1(bound)}"
    if audited and errors / audited >= accepted:
        return AuditRate(1.0, audited, errors, bound, needed,
                         f"every line is audited: {errors} of {audited} audited lines changed "
                         f"({pct1(errors / audited)}), not under the accepted {pct1(accepted)}; the gate lets bad "
                         "lines through (tighten it, or improve the drafter)")
    if audited < needed:
        return AuditRate(1.0, audited, errors, bound, needed,
                         f"every line is audited until the bound is under the accepted {pct1(accepted)} "
                         f"({evidence}; at least {needed - audited} more audits needed)")
    rate = max(floor, needed / audited)
    why = f"the {pct(floor)} floor" if rate == floor else f"{pct(rate)} ({needed} needed / {audited} audited)"
    return AuditRate(rate, audited, errors, bound, needed,
                     f"sampled at {why}: the bound is under the accepted {pct1(accepted)} ({evidence})")


def fixed_rate(rate: float) -> AuditRate:
    """The tier's fixed audit rate, when the adaptive rate is switched off."""
    return AuditRate(rate, 0, 0, 1.0, 0, f"sampled at the tier's fixed {pct(rate)} (adaptive audit is off)")
