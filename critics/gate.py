"""The routing policy: may a line skip the human, and is an auto-approved line sampled for audit?"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field

from critics.findings import Finding, severity_rank
from critics.policy import RoutePolicy

Route = Literal["auto", "review"]


class RouteDecision(BaseModel):
    """Where a line goes, and why."""

    route: Route
    audit_sample: bool = False
    reasons: list[str] = Field(default_factory=list, description="Why it goes to review; empty for auto.")
    gate_route: Route = Field(default="review", description="Where the gate itself would send the line: differs from "
                              "`route` only in shadow mode, where every line goes to a human.")


def audit_draw(seed: int, key: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the item key, so a rerun draws the same sample."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def finding_reasons(findings: list[Finding], policy: RoutePolicy) -> list[str]:
    """Why these findings keep a line from auto-approval at any threshold: rules fired, a check failed, or a critic
    finding at or above the blocking severity (empty: the confidence alone decides)."""
    reasons = []
    rule_hits = [f.code for f in findings if f.source == "rule"]
    if rule_hits:
        reasons.append(f"rules fired: {', '.join(sorted(set(rule_hits)))}")
    if any(f.source == "system" for f in findings):
        reasons.append("a check failed")
    blocking = severity_rank(policy.blocking_severity)
    critic_blocks = [f.code for f in findings if f.source == "critic" and severity_rank(f.severity) >= blocking]
    if critic_blocks:
        reasons.append(f"critic findings at or above {policy.blocking_severity}: {', '.join(sorted(set(critic_blocks)))}")
    return reasons


def decide_route(findings: list[Finding], confidence: float | None, policy: RoutePolicy, key: str,
                 critic_used: bool = True) -> RouteDecision:
    """Auto-approve only with no rule finding, no blocking critic finding and enough critic confidence."""
    reasons: list[str] = []
    tier = policy.active_tier()
    if tier.force_review:
        reasons.append(f"tier {policy.tier!r} sends every line to review")
    reasons.extend(finding_reasons(findings, policy))
    if critic_used and (confidence is None or confidence < policy.confidence_threshold):
        shown = "none" if confidence is None else f"{confidence:.2f}"
        reasons.append(f"critic confidence {shown} below {policy.confidence_threshold:.2f}")
    if reasons:
        return RouteDecision(route="review", reasons=reasons, gate_route="review")
    if policy.shadow:
        return RouteDecision(route="review", gate_route="auto", reasons=[
            "shadow mode: the gate would auto-approve this line; every line goes to a human to calibrate the gate"])
    return RouteDecision(route="auto", gate_route="auto",
                         audit_sample=audit_draw(policy.audit_seed, key) < tier.audit_sample_rate)
