"""Grounding: numbers, names and claim words in the line must be supported by the record."""

from __future__ import annotations

from critics.findings import Finding
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.record import NAME_FIELDS
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


def _runs(draft: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans joined where only spaces, hyphens or apostrophes part them, so one phrase gives one finding."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and not draft[out[-1][1]:s].strip(" -'’"):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


@rule("ungrounded_claim.word")
def ungrounded_word(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """A content word (what happened, a product, a thing) that traces to no fact of the record and is not phrasing."""
    a = analyse(draft, prospect, policy)
    return [finding("ungrounded_claim.word", "medium", (s, e),
                    f"'{draft[s:e]}' traces to no fact in the record.",
                    "Say only what the record states; comment on it in plain words.")
            for s, e in _runs(draft, a.ungrounded_words)]


@rule("generic.no_fact")
def generic_no_fact(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The line names the company but uses no fact from the record beyond the names: it could be sent to any
    company (a line without the company is missing_company already; a line that translates the record shares no
    words with it, and is not judged so)."""
    if not policy.flag_generic:
        return []
    a = analyse(draft, prospect, policy)
    if a.facts_used or a.cross_language or not a.company_spans or not any(text.strip() for name, text in a.rec.fact_cells if name not in NAME_FIELDS):
        return []  # a record with nothing but names gives a line no fact to use
    return [finding("generic.no_fact", "medium", (0, len(draft.rstrip())),
                    "The line uses no fact from the record: it could be sent to any company.",
                    "Name one fact from the notes.")]
