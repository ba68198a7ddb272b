"""The routing policy and the policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from critics.findings import Finding
from critics.gate import audit_draw, decide_route
from critics.policy import PolicyError, load_policy


def finding(source: str = "rule", severity: str = "medium", category: str = "spammy") -> Finding:
    return Finding(source=source, code=f"{category}.x", category=category, severity=severity, message="m")


@pytest.fixture
def route():
    return load_policy().route


def test_clean_confident_line_is_auto(route) -> None:
    assert decide_route([], 0.95, route, "k").route == "auto"


def test_any_rule_finding_blocks(route) -> None:
    decision = decide_route([finding(severity="low")], 0.99, route, "k")
    assert decision.route == "review" and "rules fired: spammy.x" in decision.reasons[0]


def test_critic_findings_block_at_or_above_blocking_severity(route) -> None:
    assert decide_route([finding("critic", "low")], 0.99, route, "k").route == "auto"
    assert decide_route([finding("critic", "medium")], 0.99, route, "k").route == "review"
    route.blocking_severity = "high"
    assert decide_route([finding("critic", "medium")], 0.99, route, "k").route == "auto"


def test_confidence_threshold_and_missing_confidence(route) -> None:
    assert decide_route([], route.confidence_threshold, route, "k").route == "auto"
    assert decide_route([], route.confidence_threshold - 0.01, route, "k").route == "review"
    assert decide_route([], None, route, "k").route == "review"
    assert decide_route([], None, route, "k", critic_used=False).route == "auto"


def test_system_finding_never_auto(route) -> None:
    assert decide_route([finding("system", "high", "other")], 0.99, route, "k").route == "review"


def test_forced_tier(route) -> None:
    route.tier = "high"
    assert decide_route([], 0.99, route, "k").reasons == ["tier 'high' sends every line to review"]


def test_audit_sample_is_deterministic_and_near_rate(route) -> None:
    route.tiers["standard"].audit_sample_rate = 0.1
    picks = [decide_route([], 0.99, route, f"run:{i}").audit_sample for i in range(2000)]
    assert picks == [decide_route([], 0.99, route, f"run:{i}").audit_sample for i in range(2000)]
    assert 150 <= sum(picks) <= 250
    assert audit_draw(1, "x") != audit_draw(2, "x")


def test_policy_file_overrides_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.toml"
    good.write_text("[rules]\nmax_length = 90\n[route]\nconfidence_threshold = 0.5\n")
    policy = load_policy(good)
    assert policy.rules.max_length == 90 and policy.route.confidence_threshold == 0.5
    assert policy.rules.pricing_terms  # untouched lists keep their defaults
    bad = tmp_path / "bad.toml"
    bad.write_text("[route]\nconfidence_threshold = 3\n")
    with pytest.raises(PolicyError, match="route.confidence_threshold"):
        load_policy(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[rules]\nmax_lenght = 3\n")
    with pytest.raises(PolicyError, match="rules.max_lenght"):
        load_policy(typo)
    tier = tmp_path / "tier.toml"
    tier.write_text('[route]\ntier = "gold"\n')
    with pytest.raises(PolicyError, match="gold"):
        load_policy(tier)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[rules\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)
