"""Deterministic rules: pure, fast checks of a drafted first line against its prospect record.

Importing this package registers every rule in `critics.registry.RULES`, keyed by its stable code. The
rules live in one module per concern (form, names, grounding, spam and tone, leaks and injection, characters)
and share one memoised analysis of the draft (see `analysis`).
"""

from __future__ import annotations

from critics.findings import Finding
from critics.normalise import normalise
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.registry import RULES
from critics.rules import characters, form, grounding, leaks_injection, names, spam_tone
from critics.rules.analysis import CURRENT_ANALYSIS, analyse, claims

CONCERNS = (form, names, grounding, spam_tone, leaks_injection, characters)


def run_rules(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Run every registered rule on one draft, normalised first (see critics.normalise), and return all findings
    with their spans in the original draft, sorted by start offset. Rules registered with `original=True` read the
    draft as written."""
    norm = normalise(draft)
    text = norm.text
    findings: list[Finding] = []
    as_written: list[Finding] = []
    CURRENT_ANALYSIS.value = (text, prospect, policy, analyse(text, prospect, policy))
    try:
        for registered in RULES.values():
            if registered.original:
                as_written.extend(registered.func(draft, prospect, policy))
            else:
                findings.extend(registered.func(text, prospect, policy))
    finally:
        CURRENT_ANALYSIS.value = None
    if norm.origin is not None:
        findings = [f.model_copy(update=dict(zip(("start", "end"), norm.span(f.start, f.end), strict=True)))
                    for f in findings]
    findings.extend(as_written)
    findings.sort(key=lambda f: (f.start if f.start is not None else -1, f.end if f.end is not None else -1, f.code))
    return findings


__all__ = ["CONCERNS", "claims", "run_rules"]
