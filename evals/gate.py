"""`firstpass gate`: check drafts written elsewhere, and score the gate against labelled cases."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from critics.critic import CriticModel, critique
from critics.findings import Finding
from critics.gate import decide_route
from critics.policy import Policy, load_policy
from critics.prospect import Prospect
from critics.rules import claims, run_rules
from prompts.loader import PromptTemplate


class CasesError(ValueError):
    """A cases file that cannot be read; the message names the line and the field."""


class GateCase(BaseModel):
    """One input line of `firstpass gate`: a prospect and a draft, with optional labels for scoring."""

    id: str
    prospect: Prospect
    draft: str
    label: str | None = Field(default=None, description="good or bad, when the case is labelled.")
    errors: list[str] = Field(default_factory=list, description="Taxonomy codes of a bad line.")
    final: str | None = Field(default=None, description="The line a human would send instead, when known.")


def read_cases(path: Path | str) -> list[GateCase]:
    """Read a JSONL file of cases; a bad line raises CasesError naming the line and the field."""
    cases = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CasesError(f"cannot read {path}: {exc}") from exc
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            if isinstance(data, dict) and "id" in data:
                data["id"] = str(data["id"])
            cases.append(GateCase.model_validate(data))
        except json.JSONDecodeError as exc:
            raise CasesError(f"{path} line {n}: not valid JSON ({exc.msg})") from exc
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise CasesError(f"{path} line {n}: {fields}") from exc
    return cases


def _finding_out(f: Finding) -> dict[str, Any]:
    return {"source": f.source, "code": f.code, "category": f.category, "severity": f.severity,
            "start": f.start, "end": f.end, "message": f.message,
            "sources": [s.model_dump() for s in f.sources]}


def claims_out(draft: str, prospect: Prospect, policy: Policy) -> list[dict[str, Any]]:
    """The line's claims with the record spans each traces to (provenance; no sources: ungrounded)."""
    return [{"start": c.start, "end": c.end, "text": c.text,
             "sources": [{"field": s.field, "start": s.start, "end": s.end, "text": s.text} for s in c.sources[:3]]}
            for c in claims(draft, prospect, policy.rules)]


def gate_case(case: GateCase, policy: Policy, critic: CriticModel | None,
              critic_prompt: PromptTemplate | None) -> dict[str, Any]:
    """Route one case: rules, then (unless rules-only) the critic, then the routing policy."""
    findings = run_rules(case.draft, case.prospect, policy.rules)
    confidence = None
    if critic is not None and critic_prompt is not None:
        result = critique(critic, critic_prompt, case.draft, case.prospect,
                          limits={"max_length": policy.rules.max_length})
        findings += result.findings
        confidence = result.confidence
    decision = decide_route(findings, confidence, policy.route, key=case.id, critic_used=critic is not None)
    return {"id": case.id, "route": decision.route, "findings": [_finding_out(f) for f in findings],
            "confidence": confidence, "claims": claims_out(case.draft, case.prospect, policy)}


def gate_cases(cases: list[GateCase], policy: Policy | None, critic: CriticModel | None,
               critic_prompt: PromptTemplate | None, progress: bool = False) -> list[dict[str, Any]]:
    """Route every case, in order."""
    policy = policy or load_policy()
    if progress:
        from tqdm import tqdm

        cases_iter = tqdm(cases, unit="case", file=sys.stderr)
    else:
        cases_iter = cases
    return [gate_case(c, policy, critic, critic_prompt) for c in cases_iter]


def score(cases: list[GateCase], results: list[dict[str, Any]]) -> str:
    """A one-paragraph score of the routes against the labels (empty if the cases carry none)."""
    labelled = [(c, r) for c, r in zip(cases, results, strict=True) if c.label in ("good", "bad")]
    if not labelled:
        return ""
    bad = [(c, r) for c, r in labelled if c.label == "bad" and set(c.errors) != {"tone"}]
    good = [(c, r) for c, r in labelled if c.label == "good"]
    flagged = sum(r["route"] == "review" for _, r in bad)
    passed = sum(r["route"] == "auto" for _, r in good)
    lines = [f"bad lines flagged: {flagged}/{len(bad)} ({100 * flagged / max(1, len(bad)):.1f}%, tone-only left aside)",
             f"good lines auto-passed: {passed}/{len(good)} ({100 * passed / max(1, len(good)):.1f}%)"]
    missed = [c.id for c, r in bad if r["route"] == "auto"]
    stopped = [c.id for c, r in good if r["route"] == "review"]
    if missed:
        lines.append(f"bad lines passed: {', '.join(missed)}")
    if stopped:
        lines.append(f"good lines stopped: {', '.join(stopped)}")
    return "\n".join(lines)
