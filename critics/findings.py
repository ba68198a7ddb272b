"""Finding schemas shared by the rules, the critic, the store and the evals."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

Category = Literal[
    "too_long",
    "missing_company",
    "wrong_name",
    "placeholder",
    "ungrounded_claim",
    "generic",
    "pricing",
    "spammy",
    "tone",
    "multiple_sentences",
    "prompt_leak",
    "injection",
    "other",
]
CATEGORIES: tuple[str, ...] = get_args(Category)

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[str, ...] = get_args(Severity)

Source = Literal["rule", "critic", "system"]


def severity_rank(severity: str) -> int:
    """Order severities so that policies can compare them ("low" < "medium" < "high")."""
    return SEVERITIES.index(severity)


class SourceSpan(BaseModel):
    """Where a finding's evidence sits in the prospect record: the field, the span of its text, and that text."""

    field: str = Field(description="The record field: a named field (notes, title, ...) or a CSV column.")
    start: int = Field(description="Start offset in the field's text.")
    end: int = Field(description="End offset (exclusive) in the field's text.")
    text: str = Field(default="", description="The text at that span, as read (decoded where it was encoded).")


class Finding(BaseModel):
    """One problem found in a draft, by a rule, the critic or the system itself."""

    source: Source = Field(description="Who found it: a deterministic rule, the critic model, or the system (a failed check).")
    code: str = Field(description="Stable code, e.g. 'spammy.all_caps'; starts with the taxonomy category.")
    category: Category = Field(description="Error taxonomy category.")
    severity: Severity = Field(default="medium", description="How bad it is: low, medium or high.")
    start: int | None = Field(default=None, description="Start offset of the offending span in the draft.")
    end: int | None = Field(default=None, description="End offset (exclusive) of the offending span in the draft.")
    message: str = Field(description="What is wrong, for the reviewer.")
    suggested_fix: str | None = Field(default=None, description="How to fix it, when known.")
    sources: list[SourceSpan] = Field(default_factory=list, description="Provenance: the record spans the finding "
                                      "is about (a quarantined instruction, the fact a claim was checked against).")


# Findings about the prospect record rather than the line: shown once with the item, and acknowledged by the
# reviewer who decides it; an edit is judged on the line alone.
RECORD_FINDINGS = frozenset({"injection.record"})


def about_the_line(findings: list[Finding]) -> list[Finding]:
    """The findings that judge the line itself (those about the record left out)."""
    return [f for f in findings if f.code not in RECORD_FINDINGS]
