"""Form: length, one sentence, no unfilled template tokens."""

from __future__ import annotations

from critics.findings import Finding, Severity
from critics.normalise import control_characters
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.registry import rule
from critics.rules.analysis import PLACEHOLDER, PLACEHOLDER_HINT, analyse, finding


@rule("too_long")
def too_long(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The line is longer than policy.max_length characters; the span is the excess."""
    length = len(draft.rstrip())
    limit = policy.max_length
    if length <= limit:
        return []
    severity: Severity = "high" if length > limit * 1.25 else "medium"
    return [finding("too_long", severity, (limit, length),
                     f"{length} characters, {length - limit} over the {limit}-character limit.",
                     f"Cut it to at most {limit} characters.")]


@rule("placeholder")
def placeholder(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """An unfilled template token such as {first_name}, [Company], <COMPANY> or {{x}}."""
    if not PLACEHOLDER_HINT.search(draft):
        return []
    return [finding("placeholder", "high", m.span(), f"Unfilled template placeholder '{m.group()}'.",
                     "Replace it with the value from the record.") for m in PLACEHOLDER.finditer(draft)]


@rule("multiple_sentences")
def multiple_sentences(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """More than one sentence; the span is everything after the first sentence."""
    a = analyse(draft, prospect, policy)
    if a.sentence_break is None:
        return []
    end = len(draft.rstrip())
    return [finding("multiple_sentences", "medium", (a.sentence_break, end),
                     "More than one sentence; a first line is one sentence.",
                     "Join or cut to a single sentence.")]


@rule("other.control_chars")
def control_chars(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Control characters (NUL, ESC, BEL, ...): a first line has no use for any, and a terminal or a sequencer may
    obey them."""
    at = control_characters(draft)
    if not at:
        return []
    shown = ", ".join(sorted({repr(draft[i])[1:-1] for i in at}))
    return [finding("other.control_chars", "high", (at[0], at[-1] + 1),
                    f"The line holds control character(s) {shown}.", "Remove them.")]
