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
