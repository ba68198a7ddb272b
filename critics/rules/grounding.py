"""Grounding: numbers, names and claim words in the line must be supported by the record."""

from __future__ import annotations

from critics.findings import Finding
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.registry import rule
from critics.rules.analysis import analyse, finding, merge, term_hits


@rule("ungrounded_claim.number")
def ungrounded_number(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """A number (digits or words) that the record does not state."""
    a = analyse(draft, prospect, policy)
    return [finding("ungrounded_claim.number", "high", (s, e),
                     f"The number '{draft[s:e]}' is not in the record.",
                     "Use only numbers the record states, or drop it.") for s, e in a.ungrounded_numbers]


@rule("ungrounded_claim.proper_noun")
def ungrounded_proper_noun(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """A capitalised name, place, event or acronym that the record does not mention."""
    a = analyse(draft, prospect, policy)
    return [finding("ungrounded_claim.proper_noun", "medium", (s, e),
                     f"'{draft[s:e]}' is not mentioned in the record; it may be invented.",
                     "Mention only places, events and names the record supports.") for s, e in a.ungrounded_names]


@rule("ungrounded_claim.term")
def ungrounded_claim_term(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """A claim word (award, keynote, record, acquisition, ...) that the record does not support."""
    a = analyse(draft, prospect, policy)
    return [finding("ungrounded_claim.term", "medium", span,
                     f"'{draft[span[0]:span[1]]}' is a specific claim the record does not support.",
                     "Claim only what the record states.") for span in merge(term_hits(a, "claim"))]
