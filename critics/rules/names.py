"""Names: the company written as the record writes it, the right first name, no other company's name."""

from __future__ import annotations

import re

from critics.findings import Finding
from critics.policy import RulesPolicy
from critics.prospect import Prospect
from critics.registry import rule
from critics.rules.analysis import analyse, finding, fold, near, strip_possessive


@rule("missing_company")
def missing_company(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The company name, as the record writes it, is not in the line."""
    a = analyse(draft, prospect, policy)
    company = a.rec.company
    if not company or a.company_spans:
        return []
    if a.company_near:
        s, e, how = a.company_near
        written = draft[s:e]
        what = "an acronym" if how == "acronym" else "a different spelling"
        return [finding("missing_company", "high", (s, e),
                         f"Writes the company as '{written}' ({what}); the record names it '{company}'.",
                         f"Write '{company}' exactly as the record does.")]
    return [finding("missing_company", "high", (0, len(draft)),
                     f"The company '{company}' is not named in the line.",
                     f"Name '{company}' exactly as the record writes it.")]


@rule("wrong_name.greeting")
def wrong_name_greeting(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The line greets or addresses someone other than the prospect's first name."""
    a = analyse(draft, prospect, policy)
    first = prospect.first_name.strip()
    return [finding("wrong_name.greeting", "high", (s, e),
                     f"Addresses '{name}', but the prospect's first name is '{first}'.",
                     f"Use '{first}'.") for s, e, name in a.vocatives]


@rule("wrong_name.misspelled")
def wrong_name_misspelled(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """A name close to, but not, the prospect's first or last name (a misspelling)."""
    a = analyse(draft, prospect, policy)
    out = []
    for s, e, tok in a.misspelled:
        base = strip_possessive(fold(tok))
        right = prospect.first_name if near(base, a.rec.first) else prospect.last_name
        out.append(finding("wrong_name.misspelled", "high", (s, e),
                            f"'{tok}' looks like a misspelling of the prospect's name '{right}'.", f"Write '{right}'."))
    return out


@rule("wrong_name.company")
def wrong_name_company(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The line names an organisation that is not in the record (another company)."""
    a = analyse(draft, prospect, policy)
    return [finding("wrong_name.company", "high", (s, e),
                     f"Names '{draft[s:e]}', which the record does not mention; the prospect's company is '{a.rec.company}'.",
                     f"Refer to '{a.rec.company}' instead.") for s, e in a.other_companies]


_WORD_BEFORE = re.compile(r"([^\W\d_][\w'’-]*)\s+$")


@rule("wrong_name.glued")
def wrong_name_glued(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The prospect's own name run into the company name ("Henry Walsh Marine Supply"): a garbled company."""
    a = analyse(draft, prospect, policy)
    names = {fold(n) for n in (prospect.first_name, prospect.last_name) if n.strip()}
    out = []
    for s, e in a.company_spans:
        m = _WORD_BEFORE.search(draft[:s])
        if m and strip_possessive(fold(m.group(1))) in names:
            out.append(finding("wrong_name.glued", "high", (m.start(1), e),
                                f"Writes '{draft[m.start(1):e]}': the prospect's name is run into the company "
                                f"name '{a.rec.company}'.", f"Write '{a.rec.company}' on its own."))
    return out


@rule("other.repeated_company")
def repeated_company(draft: str, prospect: Prospect, policy: RulesPolicy) -> list[Finding]:
    """The company is named more than once in one line: a sign of a garbled draft."""
    a = analyse(draft, prospect, policy)
    if len(a.company_spans) < 2:
        return []
    s, e = a.company_spans[1]
    return [finding("other.repeated_company", "medium", (s, e),
                     f"Names '{a.rec.company}' {len(a.company_spans)} times in one line.",
                     "Name the company once.")]
