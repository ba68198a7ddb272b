"""What human review catches, in figures: volume, backlog, overrides, error on sent lines, what the checks catch,
reviewers, and when the gate may be narrowed. Plain functions over plain records (the application layer loads
them from the database), returning JSON-able dicts with stable keys.

A *line* is one gated item. A *decision* is one human verdict that was not undone: a review of a flagged line
(kind "review") or an audit of an auto-approved one (kind "audit"). A decision changes the line when it is not an
approval as is (edit, reject, regenerate): an override of the AI.
"""

from __future__ import annotations

import datetime
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.sampling import clean_audits_needed
from evals.stats import clopper_pearson, clopper_pearson_upper, share

DAY = 86400.0
# Gaps between one reviewer's decisions longer than this are breaks, not work (decisions per hour).
BREAK_SECONDS = 600.0
# A reviewer's pace per hour is shown once they have worked this long.
MIN_ACTIVE_SECONDS = 60.0
# Arrival and review rates for the backlog projection are measured over this many recent days.
PACE_DAYS = 7


@dataclass(frozen=True)
class Finding:
    """One finding on a line, as the metrics need it."""

    source: str
    code: str
    category: str


@dataclass(frozen=True)
class Line:
    """One gated line (an item), as routed."""

    id: int
    run: str
    at: float
    status: str
    route: str | None
    tier: str | None = None
    prompt_version: str | None = None
    findings: tuple[Finding, ...] = ()
    confidence: float | None = None
    audit_sample: bool = False
    audited: bool = False
    shadow: bool = False


@dataclass(frozen=True)
class Decision:
    """One human verdict that stands (not undone)."""

    item_id: int
    at: float
    reviewer: str
    action: str
    kind: str
    categories: tuple[str, ...] = ()
    duration_ms: float | None = None
    words: int = 0
    first: bool = True

    @property
    def changed(self) -> bool:
        """The human did not approve the line as is."""
        return self.action != "approve"


@dataclass(frozen=True)
class CanaryResult:
    """One known-bad check line a reviewer decided."""

    reviewer: str
    at: float
    caught: bool


@dataclass(frozen=True)
class Limits:
    """The policy's figures the metrics judge against."""

    accepted_error_rate: float = 0.02
    min_outputs: int = 500
    min_catch_rate: float = 0.8
    reading_words_per_minute: float = 300.0
    max_fast_share: float = 0.25
    min_decisions: int = 20


@dataclass
class Inputs:
    """Everything the metrics are computed from."""

    lines: list[Line]
    decisions: list[Decision]
    pending: int
    now: float = field(default_factory=time.time)
    canaries: list[CanaryResult] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)


def day_of(at: float) -> str:
    """The UTC calendar day of a timestamp, as YYYY-MM-DD."""
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def week_of(at: float) -> str:
    """The ISO week of a timestamp (UTC), as YYYY-Www."""
    year, week, _ = datetime.datetime.fromtimestamp(at, tz=datetime.UTC).isocalendar()
    return f"{year}-W{week:02d}"


def interval(k: int, n: int) -> dict[str, Any]:
    """A share with its exact (Clopper-Pearson) 95% interval and one-sided 95% upper bound, as JSON."""
    low, high = clopper_pearson(k, n)
    return {"k": k, "n": n, "rate": share(k, n), "low": low, "high": high, "upper": clopper_pearson_upper(k, n)}


def volume(lines: Sequence[Line]) -> dict[str, Any]:
    """Lines gated per day, and the shares auto-approved and sent to review (shadow lines count as review)."""
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        if line.route:
            per_day[day_of(line.at)][line.route] += 1
    gated = sum(sum(c.values()) for c in per_day.values())
    auto = sum(c["auto"] for c in per_day.values())
    return {"gated": gated, "auto_approved": auto, "reviewed": gated - auto, "auto_rate": share(auto, gated),
            "review_rate": share(gated - auto, gated), "shadow": sum(1 for x in lines if x.shadow),
            "per_day": [{"day": d, "gated": sum(c.values()), "auto": c["auto"], "review": c["review"]}
                        for d, c in sorted(per_day.items())]}


def backlog(lines: Sequence[Line], decisions: Sequence[Decision], pending: int, now: float) -> dict[str, Any]:
    """The queue now, the pace it fills and empties over the last days, and when it clears at that pace."""
    since = now - PACE_DAYS * DAY
    first = min((x.at for x in lines), default=now)
    days = max(1.0, min(PACE_DAYS, (now - max(first, since)) / DAY))
    arrived = sum(1 for x in lines if x.at >= since and (x.route == "review" or x.audit_sample))
    done = sum(1 for d in decisions if d.at >= since and d.first)
    arrivals, reviews = arrived / days, done / days
    clears: float | None = None
    if pending == 0:
        message = "the queue is empty"
    elif reviews > arrivals:
        clears = pending / (reviews - arrivals)
        message = f"at this pace the queue of {pending} clears in {_days(clears)}"
    else:
        message = (f"review capacity is {reviews:.0f}/day against {arrivals:.0f} flagged/day: the queue of {pending} "
                   f"grows by {arrivals - reviews:.0f}/day")
    return {"pending": pending, "arrivals_per_day": arrivals, "reviews_per_day": reviews, "days_measured": days,
            "clears_in_days": clears, "message": message}


def _days(d: float) -> str:
    return f"{d * 24:.1f} hours" if d < 1 else f"{d:.1f} days"


def _group(decisions: Iterable[Decision], key: Callable[[Decision], str | None]) -> list[dict[str, Any]]:
    groups: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        groups[key(d) or "–"].append(d)
    return [{"key": k, "decisions": len(ds), "overrides": sum(d.changed for d in ds),
             "override_rate": share(sum(d.changed for d in ds), len(ds))} for k, ds in sorted(groups.items())]


def error_categories(decision: Decision, line: Line | None) -> tuple[str, ...]:
    """What a changed line was wrong with: the human's categories, else the gate's finding categories, else other."""
    if not decision.changed:
        return ()
    if decision.categories:
        return decision.categories
    found = tuple(sorted({f.category for f in line.findings})) if line else ()
    return found or ("other",)


def overrides(lines: dict[int, Line], decisions: Sequence[Decision]) -> dict[str, Any]:
    """Override rates of first verdicts on lines: by action, error category, reviewer, prompt version and tier."""
    firsts = [d for d in decisions if d.first]
    actions = Counter(d.action for d in firsts)
    cats: Counter[str] = Counter()
    for d in firsts:
        cats.update(error_categories(d, lines.get(d.item_id)))
    changed = sum(d.changed for d in firsts)
    return {
        "decisions": len(firsts), "overrides": changed, "override_rate": share(changed, len(firsts)),
        "by_action": [{"key": a, "decisions": n, "share": share(n, len(firsts))} for a, n in sorted(actions.items())],
        "by_category": [{"key": c, "overrides": n, "share": share(n, changed)} for c, n in cats.most_common()],
        "by_reviewer": _group(firsts, lambda d: d.reviewer),
        "by_kind": _group(firsts, lambda d: d.kind),
        "by_prompt_version": _group(firsts, lambda d: _attr(lines, d, "prompt_version")),
        "by_tier": _group(firsts, lambda d: _attr(lines, d, "tier")),
    }


def _attr(lines: dict[int, Line], d: Decision, name: str) -> str | None:
    line = lines.get(d.item_id)
    return getattr(line, name) if line else None


def catches(lines: dict[int, Line], decisions: Sequence[Decision]) -> dict[str, list[dict[str, Any]]]:
    """Per rule and per critic category: lines flagged, how many humans confirmed (changed) or overruled
    (approved as is), and the share confirmed (the check's precision against the humans)."""
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for d in decisions:
        line = lines.get(d.item_id)
        if not d.first or line is None or d.kind != "review":
            continue
        keys = {("rule", f.code) for f in line.findings if f.source == "rule"}
        keys |= {("critic", f.category) for f in line.findings if f.source == "critic"}
        for key in keys:
            tally[key]["confirmed" if d.changed else "overruled"] += 1
    out: dict[str, list[dict[str, Any]]] = {"rules": [], "critic": []}
    for (source, code), c in sorted(tally.items()):
        n = c["confirmed"] + c["overruled"]
        out["rules" if source == "rule" else "critic"].append(
            {"key": code, "flagged": n, "confirmed": c["confirmed"], "overruled": c["overruled"],
             "precision": share(c["confirmed"], n)})
    return out


def sent_error(lines: dict[int, Line], decisions: Sequence[Decision]) -> dict[str, Any]:
    """The error rate on sent (auto-approved) lines, from their audits: overall and by week, with exact intervals."""
    audits = [d for d in decisions if d.kind == "audit" and d.first]
    weeks: dict[str, list[Decision]] = defaultdict(list)
    for d in audits:
        line = lines.get(d.item_id)
        weeks[week_of(line.at if line else d.at)].append(d)
    overall = interval(sum(d.changed for d in audits), len(audits))
    by_week = [{"week": w, **interval(sum(d.changed for d in ds), len(ds))} for w, ds in sorted(weeks.items())]
    waiting = sum(1 for x in lines.values() if x.audit_sample and not x.audited and x.status == "auto_approved")
    return {**overall, "waiting": waiting, "by_week": by_week}


def reading_seconds(words: int, words_per_minute: float) -> float:
    """How long reading `words` words takes at the given pace."""
    return 60.0 * words / words_per_minute


def reviewers(lines: dict[int, Line], decisions: Sequence[Decision], canaries: Sequence[CanaryResult],
              limits: Limits) -> list[dict[str, Any]]:
    """Per reviewer: pace, decision time, approve rate against peers on the same categories, decisions faster than
    reading the line, canaries caught, and a rubber-stamp warning when the evidence shows one."""
    by: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        by[d.reviewer].append(d)
    peer = _approve_by_category(lines, decisions)
    checks: dict[str, list[CanaryResult]] = defaultdict(list)
    for c in canaries:
        checks[c.reviewer].append(c)
    rows = []
    for name in sorted(set(by) | set(checks)):
        rows.append(_reviewer_row(name, by.get(name, []), checks.get(name, []), lines, peer, limits))
    return rows


def _primary(lines: dict[int, Line], d: Decision) -> str:
    line = lines.get(d.item_id)
    cats = sorted({f.category for f in line.findings}) if line else []
    return cats[0] if cats else "none"


def _approve_by_category(lines: dict[int, Line], decisions: Sequence[Decision]) -> dict[str, dict[str, Counter[bool]]]:
    out: dict[str, dict[str, Counter[bool]]] = defaultdict(lambda: defaultdict(Counter))
    for d in decisions:
        if d.first:
            out[d.reviewer][_primary(lines, d)][not d.changed] += 1
    return out


def _reviewer_row(name: str, mine: list[Decision], checks: list[CanaryResult], lines: dict[int, Line],
                  peer: dict[str, dict[str, Counter[bool]]], limits: Limits) -> dict[str, Any]:
    mine = sorted(mine, key=lambda d: d.at)
    active = sum(min(b.at - a.at, BREAK_SECONDS) for a, b in zip(mine, mine[1:], strict=False))
    active += (mine[0].duration_ms or 0) / 1000 if mine else 0
    durations = [d.duration_ms / 1000 for d in mine if d.duration_ms is not None]
    timed = [d for d in mine if d.duration_ms is not None and d.words]
    fast = sum(1 for d in timed if (d.duration_ms or 0) / 1000 < reading_seconds(d.words, limits.reading_words_per_minute))
    firsts = [d for d in mine if d.first]
    approved = sum(not d.changed for d in firsts)
    expected = _peer_expectation(name, firsts, lines, peer)
    caught = sum(c.caught for c in checks)
    catch = interval(caught, len(checks))
    row = {"reviewer": name, "decisions": len(mine),
           # Under a minute of work says nothing of an hourly pace.
           "per_hour": len(mine) / (active / 3600) if len(mine) > 1 and active >= MIN_ACTIVE_SECONDS else None,
           "median_seconds": statistics.median(durations) if durations else None,
           "approve_rate": share(approved, len(firsts)), "peer_approve_rate": expected,
           "fast_share": share(fast, len(timed)), "timed": len(timed),
           "canaries": len(checks), "canaries_caught": caught, "catch_rate": catch["rate"],
           "catch_low": catch["low"], "catch_high": catch["high"]}
    row["warnings"] = rubber_stamp_warnings(row, limits)
    return row


def _peer_expectation(name: str, firsts: list[Decision], lines: dict[int, Line],
                      peer: dict[str, dict[str, Counter[bool]]]) -> float | None:
    """The approve rate the reviewer's peers would have had on the same mix of categories."""
    expected, weight = 0.0, 0
    for d in firsts:
        cat = _primary(lines, d)
        yes = sum(peer[o][cat][True] for o in peer if o != name)
        total = yes + sum(peer[o][cat][False] for o in peer if o != name)
        if total:
            expected += yes / total
            weight += 1
    return expected / weight if weight else None


def rubber_stamp_warnings(row: dict[str, Any], limits: Limits) -> list[str]:
    """Why a reviewer may be approving without reading: canaries missed, or decisions faster than reading time."""
    out = []
    if row["canaries"] >= 1 and row["catch_high"] is not None and row["catch_high"] < limits.min_catch_rate:
        out.append(f"caught {row['canaries_caught']} of {row['canaries']} check lines: the catch rate is at most "
                   f"{row['catch_high']:.0%} (95%), under {limits.min_catch_rate:.0%}")
    if row["timed"] >= limits.min_decisions and (row["fast_share"] or 0) > limits.max_fast_share:
        out.append(f"{row['fast_share']:.0%} of decisions came faster than the line can be read "
                   f"(over {limits.max_fast_share:.0%})")
    return out


def narrowing(lines: dict[int, Line], decisions: Sequence[Decision], limits: Limits) -> list[dict[str, Any]]:
    """Per tier, for all errors and per error category: human-measured outputs, errors, the one-sided 95% upper
    bound, and whether the human step may be removed (enough outputs and the bound under the accepted rate)."""
    measured: dict[str, list[tuple[Decision, Line]]] = defaultdict(list)
    for d in decisions:
        line = lines.get(d.item_id)
        if d.first and line is not None:
            measured[line.tier or "–"].append((d, line))
    rows = []
    for tier, pairs in sorted(measured.items()):
        cats: Counter[str] = Counter()
        for d, line in pairs:
            cats.update(error_categories(d, line))
        rows.append(_narrow_row(tier, "any", len(pairs), sum(d.changed for d, _ in pairs), limits))
        rows.extend(_narrow_row(tier, c, len(pairs), k, limits) for c, k in sorted(cats.items()))
    return rows


def _narrow_row(tier: str, category: str, n: int, k: int, limits: Limits) -> dict[str, Any]:
    upper = clopper_pearson_upper(k, n)
    accepted = limits.accepted_error_rate
    if n and k / n >= accepted:
        verdict, more = f"not ready: {k / n:.1%} of outputs have this error, not under {accepted:.1%}", None
    else:
        more = max(limits.min_outputs - n, clean_audits_needed(k, accepted) - n, 0)
        verdict = ("ready to narrow" if more == 0 and upper < accepted
                   else f"not ready: {more} more measured outputs needed")
    return {"tier": tier, "category": category, "measured": n, "errors": k, "rate": share(k, n), "upper": upper,
            "ready": verdict == "ready to narrow", "more_needed": more, "verdict": verdict}


def compute(inputs: Inputs) -> dict[str, Any]:
    """Every figure, as one JSON-able dict with stable keys."""
    lines = {x.id: x for x in inputs.lines}
    return {
        "volume": volume(inputs.lines),
        "backlog": backlog(inputs.lines, inputs.decisions, inputs.pending, inputs.now),
        "overrides": overrides(lines, inputs.decisions),
        "catches": catches(lines, inputs.decisions),
        "sent_error": sent_error(lines, inputs.decisions),
        "reviewers": reviewers(lines, inputs.decisions, inputs.canaries, inputs.limits),
        "narrowing": narrowing(lines, inputs.decisions, inputs.limits),
        "limits": {"accepted_error_rate": inputs.limits.accepted_error_rate, "min_outputs": inputs.limits.min_outputs,
                   "min_catch_rate": inputs.limits.min_catch_rate,
                   "reading_words_per_minute": inputs.limits.reading_words_per_minute,
                   "max_fast_share": inputs.limits.max_fast_share},
        "generated_at": inputs.now,
    }
