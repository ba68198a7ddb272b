"""`firstpass calibrate`: the gate's threshold from shadow-mode verdicts, with a guarantee (evals.calibration), and
`--apply`, which writes the new policy as a new version of the policy file (the old kept) and records it.

Calibration is tied to what produced the lines: the drafter prompt version, both models and the policy's checks.
Only shadow-mode lines (every line went to a human) under that configuration are used, so that the verdicts
cover the lines the gate would have auto-approved as well as those it flagged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from critics.findings import Finding
from critics.gate import finding_reasons
from critics.policy import Policy, load_policy
from evals.calibration import CalibrationLine, Certificate, curve, learn_then_test
from firstpass.db import Store
from firstpass.metrics import load_decisions
from graph.state import Context

HEADER = "# confidence_threshold set by `firstpass calibrate --apply`"


class CalibrationError(ValueError):
    """Calibration cannot run or cannot be applied; the message says why and what to do."""


@dataclass(frozen=True)
class Config:
    """What the calibration lines must have been produced by."""

    prompt_version: str
    drafter_model: str
    critic_model: str
    checks_hash: str


def config_of(context: Context) -> Config:
    """The configuration a running app drafts under: its drafter prompt version, models and checks."""
    return Config(context.drafter_template().version, context.drafter.model, context.critic.model, context.checks_hash)


def eligible(findings: list[dict[str, Any]], policy: Policy) -> bool:
    """Whether the gate could auto-approve a line with these findings at some threshold (critics.gate decides)."""
    return not finding_reasons([Finding.model_validate(f) for f in findings], policy.route)


def calibration_lines(store: Store, config: Config, policy: Policy) -> tuple[list[CalibrationLine], dict[str, int]]:
    """Shadow-mode lines under `config` with a human verdict on the line as drafted; and how many shadow lines
    exist under other configurations (to say so when none match)."""
    rows = store.query("SELECT id, route, findings_json, confidence, prompt_version, drafter_model, critic_model,"
                       " checks_hash FROM items WHERE shadow = 1", {})
    mine = {int(r["id"]): r for r in rows if (r["prompt_version"], r["drafter_model"], r["critic_model"],
                                              r["checks_hash"]) == (config.prompt_version, config.drafter_model,
                                                                    config.critic_model, config.checks_hash)}
    others: dict[str, int] = {}
    for r in rows:
        if int(r["id"]) not in mine:
            key = f"{r['prompt_version']} / {r['drafter_model']} / {r['critic_model']} / checks {r['checks_hash']}"
            others[key] = others.get(key, 0) + 1
    verdicts = {d.item_id: d for d in load_decisions(store, {i: r["route"] for i, r in mine.items()})
                if d.first and d.kind == "review"}
    lines = [CalibrationLine(mine[i]["confidence"], eligible(json.loads(mine[i]["findings_json"]), policy), d.changed)
             for i, d in sorted(verdicts.items())]
    return lines, others


def run(store: Store, config: Config, policy: Policy, alpha: float, delta: float) -> tuple[Certificate, dict[str, int]]:
    """Learn-then-Test over the shadow verdicts under `config`."""
    lines, others = calibration_lines(store, config, policy)
    return learn_then_test(lines, alpha=alpha, delta=delta), others


def curve_rows(certificate: Certificate) -> list[dict[str, Any]]:
    """The trade-off curve as JSON: threshold, auto-approve rate, estimated and bounded miss rate, the test."""
    return [{"threshold": s.threshold, "auto_rate": s.auto_rate, "auto_approved": s.n, "misses": s.misses,
             "miss_rate": s.miss_rate, "upper": s.upper, "p_value": s.p_value, "passed": s.passed,
             "calibrated_approval": s.calibrated} for s in curve(certificate)]


def report(certificate: Certificate, config: Config, others: dict[str, int]) -> dict[str, Any]:
    """The calibration as JSON with stable keys."""
    cal = certificate.calibration
    return {"config": asdict(config), "alpha": certificate.alpha, "delta": certificate.delta,
            "lines": certificate.lines, "eligible": certificate.eligible, "threshold": certificate.threshold,
            "guarantee": certificate.guarantee(), "needed": certificate.needed, "tested": certificate.tested,
            "calibration": {"signal": cal.signal, "p_value": cal.p_value, "auc": cal.auc, "base_rate": cal.base_rate,
                            "points": [{"confidence": x, "approval": y} for x, y in zip(cal.xs, cal.ys, strict=True)]},
            "curve": curve_rows(certificate), "other_configs": others}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apply(store: Store, home: Path, policy_file: Path | None, certificate: Certificate, data: dict[str, Any]) -> Path:
    """Write the policy with the certified threshold as a new version: kept in `home/policies/policy-vN.toml` and
    written to the policy file in force (`home/policy.toml` when there is none), the old file kept as the version
    before; recorded in the database with the data it was fitted on. Returns the path of the new version."""
    import tomlkit

    if certificate.threshold is None:
        raise CalibrationError(f"nothing to apply: {certificate.reason}")
    target = policy_file or home / "policy.toml"
    old = target.read_text(encoding="utf-8") if target.exists() else ""
    doc = tomlkit.parse(old)
    route = doc.get("route")
    if route is None:
        route = tomlkit.table()
        doc["route"] = route
    route["confidence_threshold"] = certificate.threshold
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    body = "".join(line for line in tomlkit.dumps(doc).splitlines(keepends=True) if not line.startswith(HEADER))
    text = f"{HEADER} on {stamp}: {certificate.guarantee()}\n{body}"
    history = home / "policies"
    history.mkdir(parents=True, exist_ok=True)
    versions = sorted(int(p.stem.split("-v")[-1]) for p in history.glob("policy-v*.toml") if p.stem.split("-v")[-1].isdigit())
    number = (versions[-1] if versions else 0) + 1
    if not versions or (history / f"policy-v{versions[-1]}.toml").read_text(encoding="utf-8") != old:
        (history / f"policy-v{number}.toml").write_text(old or "# the bundled default policy, no overrides\n",
                                                        encoding="utf-8")
        number += 1
    written = history / f"policy-v{number}.toml"
    written.write_text(text, encoding="utf-8")
    load_policy(written)  # never leave a policy in force that does not load
    tmp = target.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    store.add_policy_version(str(written), _sha(text), _sha(old) if old else None,
                             f"confidence_threshold = {certificate.threshold:.2f}", data)
    return written
