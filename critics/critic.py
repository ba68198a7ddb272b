"""The second-model critic: structured findings and a confidence, failing closed when it cannot answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from critics.findings import Category, Finding, Severity
from critics.prospect import Prospect
from prompts.loader import PromptTemplate, render

CRITIC_FAILED = "other.critic_failed"


class CriticFinding(BaseModel):
    """One problem the critic model reports."""

    category: Category = Field(description="Error taxonomy category of the problem.")
    severity: Severity = Field(default="medium", description="low, medium or high.")
    quote: str = Field(default="", max_length=100, description="The exact words from the line that have the problem.")
    explanation: str = Field(max_length=160, description="Why this is a problem, in one short sentence.")
    suggested_fix: str | None = Field(default=None, max_length=160, description="A better wording, if there is one.")


class CriticVerdict(BaseModel):
    """The critic's answer: its findings and how confident it is that the line is ready to send."""

    # Bounded so that a grammar-constrained small model cannot ramble for minutes.
    findings: list[CriticFinding] = Field(default_factory=list, max_length=3,
                                          description="The most important problems, at most three; empty if none.")
    confidence: float = Field(description="Confidence from 0 to 1 that the line is ready to send as it is.")

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent_to_fraction(cls, value: Any) -> Any:
        # Small models often answer 85 for 0.85; anything else outside [0, 1] is sent back for a retry.
        if isinstance(value, int | float) and 1 < value <= 100:
            return value / 100
        if isinstance(value, int | float) and not 0 <= value <= 1:
            raise ValueError("confidence must be a number from 0 to 1")
        return value


class CriticModel(Protocol):
    """Anything that turns critic messages into a validated CriticVerdict (or raises)."""

    model_id: str

    def review(self, messages: list[dict[str, str]]) -> CriticVerdict:
        """Ask the model; raise when it cannot give a valid answer."""
        ...


class CriticResult(BaseModel):
    """What the critic step hands to the router: findings with spans, a confidence, or a failure."""

    findings: list[Finding] = Field(default_factory=list)
    confidence: float | None = None
    failed: bool = False
    model: str = ""


def locate(quote: str, draft: str) -> tuple[int | None, int | None]:
    """The span of `quote` in `draft` (case-insensitive), or (None, None) when the model misquoted."""
    quote = quote.strip().strip("\"'")
    if not quote:
        return None, None
    at = draft.lower().find(quote.lower())
    return (at, at + len(quote)) if at >= 0 else (None, None)


def to_result(verdict: CriticVerdict, draft: str, model: str) -> CriticResult:
    """Turn the model's verdict into findings with character spans."""
    findings = []
    for f in verdict.findings:
        start, end = locate(f.quote, draft)
        findings.append(Finding(source="critic", code=f"{f.category}.critic", category=f.category,
                                severity=f.severity, start=start, end=end, message=f.explanation,
                                suggested_fix=f.suggested_fix))
    return CriticResult(findings=findings, confidence=verdict.confidence, model=model)


def failed_result(reason: str, model: str) -> CriticResult:
    """A critic failure as a blocking finding, so the item goes to a human instead of being approved."""
    finding = Finding(source="system", code=CRITIC_FAILED, category="other", severity="high",
                      message=f"The critic could not check this line ({reason}); review it by hand.")
    return CriticResult(findings=[finding], confidence=None, failed=True, model=model)


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a failed critic call (instructor's retry errors are pages long)."""
    attempts = getattr(exc, "n_attempts", None)
    last = str(getattr(exc, "__cause__", None) or exc).strip().splitlines()
    first = " ".join(last[0].split())[:160] if last else type(exc).__name__
    if attempts:
        return f"no valid answer after {attempts} attempt(s); last error: {first}"
    return f"{type(exc).__name__}: {first}"


def critique(critic: CriticModel, prompt: PromptTemplate, draft: str, prospect: Prospect,
             limits: Mapping[str, object] | None = None) -> CriticResult:
    """Run the critic on one draft; any failure (invalid answers after retries, server down, time-out) fails closed."""
    try:
        verdict = critic.review(render(prompt, prospect.prompt_fields(), draft=draft, limits=limits))
    except Exception as exc:  # noqa: BLE001 - whatever broke, the line must go to a human, never be approved
        return failed_result(describe_error(exc), critic.model_id)
    return to_result(verdict, draft, critic.model_id)
