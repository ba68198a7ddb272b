"""The metrics over the database: load gated lines and the decisions that stand, compute every figure
(evals.metrics), add the audit rates and the narrowing verdicts in force, and show them in the terminal."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections import defaultdict
from typing import Any

from critics.policy import Policy
from evals import metrics
from evals.formatting import NONE, num, pct, pct1
from firstpass.auditing import AuditSampler
from firstpass.db import Store, reviewqueue
from firstpass.db.store import GATE_KEY

# The audit rates shown: the gates with the newest auto-approved lines.
GATES_SHOWN = 8


class StatsError(ValueError):
    """A filter that cannot be used (a date that does not parse, a run that does not exist)."""


def parse_since(value: str | None, now: float | None = None) -> float | None:
    """A --since value: YYYY-MM-DD (UTC midnight) or Nd (N days ago); None for none."""
    if not value:
        return None
    relative = re.fullmatch(r"(\d+)d", value.strip())
    if relative:
        return (now or time.time()) - int(relative.group(1)) * metrics.DAY
    try:
        day = datetime.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise StatsError(f"--since {value!r} is not a date: use YYYY-MM-DD or Nd (e.g. 7d for the last week)") from exc
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()


def limits_of(policy: Policy) -> metrics.Limits:
    """The policy's figures the metrics judge against."""
    r = policy.reviewers
    return metrics.Limits(accepted_error_rate=policy.route.accepted_error_rate, min_outputs=policy.narrow.min_outputs,
                          min_catch_rate=r.min_catch_rate, reading_words_per_minute=r.reading_words_per_minute,
                          max_fast_share=r.max_fast_share, min_decisions=r.min_decisions)


def _where(run: str | None, since: float | None, at: str) -> tuple[str, dict[str, Any]]:
    sql, args = "", {}  # type: tuple[str, dict[str, Any]]
    if run:
        sql += " AND run = :run"
        args["run"] = run
    if since is not None:
        sql += f" AND {at} >= :since"
        args["since"] = since
    return sql, args


def load_lines(store: Store, run: str | None = None, since: float | None = None) -> list[metrics.Line]:
    """Every gated line (optionally of one run, created since a time)."""
    where, args = _where(run, since, "created_at")
    rows = store.query("SELECT id, run, created_at, status, route, tier, prompt_version, findings_json, confidence,"
                       " audit_sample, audited_at, shadow FROM items WHERE route IS NOT NULL" + where, args)
    return [metrics.Line(
        id=int(r["id"]), run=r["run"], at=float(r["created_at"]), status=r["status"], route=r["route"], tier=r["tier"],
        prompt_version=r["prompt_version"], confidence=r["confidence"], audit_sample=bool(r["audit_sample"]),
        audited=r["audited_at"] is not None, shadow=bool(r["shadow"]),
        findings=tuple(metrics.Finding(f.get("source", ""), f.get("code", ""), f.get("category", "other"))
                       for f in json.loads(r["findings_json"]))) for r in rows]


def load_decisions(store: Store, routes: dict[int, str | None], run: str | None = None,
                   since: float | None = None) -> list[metrics.Decision]:
    """The decisions that stand (an undo takes back the item's newest decision), each marked review or audit, and
    first when it was the first verdict of its kind on the line the gate routed."""
    # Read every decision of the run: an undo in the window may take back a decision from before it.
    where, args = _where(run, None, "at")
    rows = store.query("SELECT id, item_id, at, reviewer, action, categories_json, duration_ms, original_line"
                       " FROM audit_log WHERE 1=1" + where + " ORDER BY item_id, id", args)
    per_item: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        if r["action"] == "undo":
            if per_item[r["item_id"]]:
                per_item[r["item_id"]].pop()
        else:
            per_item[r["item_id"]].append(r)
    out: list[metrics.Decision] = []
    for item_id, standing in per_item.items():
        if item_id not in routes:
            continue
        # On a line the gate auto-approved, decisions after its last regenerate are audits of the line sent.
        last_regen = max((i for i, r in enumerate(standing) if r["action"] == "regenerate"), default=-1)
        seen: set[str] = set()
        for i, r in enumerate(standing):
            kind = "audit" if routes[item_id] == "auto" and i > last_regen else "review"
            out.append(metrics.Decision(
                item_id=item_id, at=float(r["at"]), reviewer=r["reviewer"], action=r["action"], kind=kind,
                categories=tuple(json.loads(r["categories_json"])), duration_ms=r["duration_ms"],
                words=len((r["original_line"] or "").split()), first=kind not in seen))
            seen.add(kind)
    return [d for d in out if since is None or d.at >= since]


def audit_rates(store: Store, policy: Policy, lines: list[metrics.Line]) -> list[dict[str, Any]]:
    """The audit rate in force for the gates of the newest auto-approved lines, with the evidence and the reason."""
    ids = [x.id for x in sorted(lines, key=lambda x: -x.at) if x.route == "auto"][:2000]
    if not ids:
        return []
    marks = ", ".join(f":i{k}" for k in range(len(ids)))
    rows = store.query(f"SELECT DISTINCT {', '.join(GATE_KEY)} FROM items WHERE id IN ({marks})",
                       {f"i{k}": v for k, v in enumerate(ids)})
    sampler = AuditSampler(store, policy)
    out = []
    for r in rows[:GATES_SHOWN]:
        gate = {k: r[k] for k in GATE_KEY}
        found = sampler.rate(gate)
        out.append({"gate": gate, "rate": found.rate, "audited": found.audited, "errors": found.errors,
                    "bound": found.bound, "needed": found.needed, "reason": found.reason})
    return out


def collect(store: Store, policy: Policy, run: str | None = None, since: float | None = None,
            now: float | None = None) -> dict[str, Any]:
    """Every figure for the filter, as one JSON-able dict with stable keys."""
    if run and run not in store.runs():
        raise StatsError(f"there is no run {run!r}; runs: {', '.join(store.runs()) or 'none yet'}")
    lines = load_lines(store, run, since)
    decisions = load_decisions(store, {x.id: x.route for x in lines}, run, since)
    pending = reviewqueue.count(store, run=run).left
    # Check lines belong to no run: they measure reviewers whatever run they were shown in.
    checks = [metrics.CanaryResult(r["reviewer"], float(r["decided_at"]), bool(r["caught"]))
              for r in store.canaries.results(since)]
    figures = metrics.compute(metrics.Inputs(lines, decisions, pending, now or time.time(), checks,
                                             limits_of(policy)))
    figures["audit_rates"] = audit_rates(store, policy, lines)
    figures["filter"] = {"run": run, "since": since}
    return figures


def show(figures: dict[str, Any]) -> None:
    """Print the figures as tables (cells are rich Text: nothing from the data is read as markup)."""
    from rich.console import Console

    console = Console()
    for table in tables(figures):
        console.print(table)


def tables(figures: dict[str, Any]) -> list[Any]:
    """The figures as rich tables, in reading order."""
    from rich.table import Table
    from rich.text import Text

    def table(title: str, head: list[str], rows: list[list[Any]]) -> Table:
        t = Table(title=Text(title), title_justify="left")
        for h in head:
            t.add_column(Text(h))
        for row in rows:
            t.add_row(*(Text(NONE if c is None else str(c)) for c in row))
        return t

    v, b, o, e = figures["volume"], figures["backlog"], figures["overrides"], figures["sent_error"]
    out = [table(f"volume: {v['gated']} lines gated, {pct(v['auto_rate'])} auto-approved, {pct(v['review_rate'])} "
                 f"to review" + (f" ({v['shadow']} in shadow mode)" if v["shadow"] else ""),
                 ["day", "gated", "auto", "review"],
                 [[d["day"], d["gated"], d["auto"], d["review"]] for d in v["per_day"][-14:]]),
           table(f"backlog: {b['message']}", ["pending", "flagged/day", "reviewed/day"],
                 [[b["pending"], num(b["arrivals_per_day"], 1), num(b["reviews_per_day"], 1)]])]
    out.append(table(f"overrides: {o['overrides']} of {o['decisions']} first verdicts ({pct(o['override_rate'])})",
                     ["by", "value", "decisions", "overrides", "rate"],
                     [["action", r["key"], r["decisions"], NONE, pct(r["share"])] for r in o["by_action"]]
                     + [[what, r["key"], r["decisions"], r["overrides"], pct(r["override_rate"])]
                        for what in ("reviewer", "prompt_version", "tier", "kind") for r in o[f"by_{what}"]]
                     + [["category", r["key"], NONE, r["overrides"], pct(r["share"])] for r in o["by_category"]]))
    c = figures["catches"]
    out.append(table("what humans catch: flagged lines confirmed (changed) or overruled (approved as is)",
                     ["check", "flagged", "confirmed", "overruled", "precision"],
                     [[f"{src}: {r['key']}", r["flagged"], r["confirmed"], r["overruled"], pct(r["precision"])]
                      for src in ("rules", "critic") for r in c[src]]))
    out.append(table(f"error on sent lines (audits): {e['k']} of {e['n']} changed, {pct1(e['rate'])} "
                     f"(95% CI {pct1(e['low'])}–{pct1(e['high'])}); {e['waiting']} audit(s) waiting",
                     ["week", "audited", "changed", "rate", "95% CI"],
                     [[w["week"], w["n"], w["k"], pct1(w["rate"]), f"{pct1(w['low'])}–{pct1(w['high'])}"]
                      for w in e["by_week"]]))
    out.append(table("audit rate in force, per gate", ["tier", "prompt", "threshold", "rate", "why"],
                     [[a["gate"]["tier"], a["gate"]["prompt_version"], a["gate"]["threshold"], pct(a["rate"]),
                       a["reason"]] for a in figures["audit_rates"]]))
    out.append(table("reviewers", ["reviewer", "decisions", "per hour", "median s", "approve", "peers",
                                   "faster than reading", "canaries caught", "warning"],
                     [[r["reviewer"], r["decisions"], num(r["per_hour"], 0), num(r["median_seconds"], 1),
                       pct(r["approve_rate"]), pct(r["peer_approve_rate"]), pct(r["fast_share"]),
                       f"{r['canaries_caught']}/{r['canaries']}" if r["canaries"] else NONE,
                       "; ".join(r["warnings"]) or NONE] for r in figures["reviewers"]]))
    out.append(table(f"narrowing the gate: ready when {figures['limits']['min_outputs']} outputs are measured and the "
                     f"95% bound is under {pct1(figures['limits']['accepted_error_rate'])}",
                     ["tier", "category", "measured", "errors", "rate", "95% bound", "verdict"],
                     [[r["tier"], r["category"], r["measured"], r["errors"], pct1(r["rate"]), pct1(r["upper"]),
                       r["verdict"]] for r in figures["narrowing"]]))
    return out
