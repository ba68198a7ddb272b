"""Spam and tone: pricing and offers, hype, emoji, shouting, links, rude or pushy wording."""

from __future__ import annotations

from critics.findings import Finding
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.registry import rule
from critics.rules.analysis import EMOJI, analyse, finding, merge, overlaps, term_hits


@rule("pricing")
def pricing(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Talk of price, cost, discounts or free offers."""
    a = analyse(draft, prospect, policy)
    spans = term_hits(a, "pricing", a.comp.pricing_pat, exclude="pricing_excl")
    return [finding("pricing", "high", span, f"Mentions pricing or an offer: '{draft[span[0]:span[1]]}'.",
                     "Leave price and offers out of the first line.") for span in merge(spans)]


@rule("spammy.term")
def spammy_term(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Hype or spam phrases, and runs of '!' or '?'."""
    a = analyse(draft, prospect, policy)
    spans = term_hits(a, "spam", a.comp.spam_pat)
    return [finding("spammy.term", "medium", span, f"Spam marker: '{draft[span[0]:span[1]]}'.",
                     "Remove the hype; state the fact plainly.") for span in merge(spans)]


@rule("spammy.emoji")
def spammy_emoji(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Emoji or pictographs."""
    if draft.isascii():
        return []
    return [finding("spammy.emoji", "medium", m.span(), f"Emoji '{m.group()}' in a cold first line.",
                     "Remove the emoji.") for m in EMOJI.finditer(draft)]


@rule("spammy.all_caps")
def spammy_all_caps(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """An ALL CAPS word that is not an acronym from the record."""
    a = analyse(draft, prospect, policy)
    return [finding("spammy.all_caps", "medium", (s, e), f"ALL CAPS '{draft[s:e]}' reads as shouting.",
                     f"Write '{draft[s:e].lower()}'.") for s, e in a.shouts]


@rule("spammy.link")
def spammy_link(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """A link or email address that the record does not give."""
    a = analyse(draft, prospect, policy)
    injected = [(s, e) for s, e, _ in a.injected_hits]
    out = []
    for s, e in a.links:
        text = a.folded[s:e].rstrip(".")
        if text in a.rec.clean_folded or overlaps(s, e, injected) or overlaps(s, e, a.company_spans):
            continue
        out.append(finding("spammy.link", "medium", (s, e), f"Link or address '{draft[s:e]}' in the first line.",
                            "Remove the link."))
    return out


@rule("tone")
def tone(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """Rude, creepy, overly familiar, sarcastic or pushy wording."""
    a = analyse(draft, prospect, policy)
    spans = term_hits(a, "tone", a.comp.tone_pat)
    return [finding("tone", "medium", span, f"Tone problem (rude, creepy, familiar, sarcastic or pushy): '{draft[span[0]:span[1]].strip()}'.",
                     "Rephrase it respectfully, or drop it.") for span in merge(spans)]
