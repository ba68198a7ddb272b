"""A self-contained HTML page for one eval run: the drafter comparison, the cases side by side, the critic.

The page has no script and loads nothing: inline CSS and inline SVG only, so it can be mailed or attached to a
ticket and opened anywhere. Everything from the report is escaped by Jinja's autoescape; this module only turns
the report into plain strings and numbers (the chart geometry) for the template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import SequenceMatcher
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from evals.formatting import NONE, num, pct

PROSPECT_FIELDS = (("company", "Company"), ("first_name", "First name"), ("title", "Title"), ("notes", "Notes"))
CHANGE_ORDER = {"newly failing": 0, "newly fixed": 1}
TOP_CATEGORIES = 5

BAR_WIDTH, BAR_HEIGHT, BAR_PAD = 260.0, 30.0, 6.0
# The reliability chart's margins leave room for the tick and axis labels.
CHART_SIZE, CHART_LEFT, CHART_TOP, CHART_RIGHT, CHART_BOTTOM = 300.0, 58.0, 14.0, 24.0, 46.0


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level diff of two lines as merged runs of ("same" | "del" | "ins", words joined by single spaces)."""
    a, b = old.split(), new.split()
    runs: list[tuple[str, list[str]]] = []

    def add(kind: str, words: list[str]) -> None:
        if not words:
            return
        if runs and runs[-1][0] == kind:
            runs[-1][1].extend(words)
        else:
            runs.append((kind, list(words)))

    for op, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            add("same", a[i1:i2])
        else:
            add("del", a[i1:i2])
            add("ins", b[j1:j2])
    return [(kind, " ".join(words)) for kind, words in runs]


def _p_value(p: float | None) -> str:
    # '#' keeps trailing zeros, so 1.0 reads "1.00" and 0.05 "0.0500": always three significant digits.
    return NONE if p is None else f"{p:#.3g}"


def _text(x: Any) -> str:
    return NONE if x is None or x == "" else str(x)


def _when(ts: float | None) -> str:
    return NONE if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "not finished"
    seconds = max(0, round(end - start))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _unit(x: Any) -> float:
    """A proportion clamped to [0, 1] (0 when missing), for drawing only."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(value) else min(1.0, max(0.0, value))


@dataclass(frozen=True)
class Header:
    """The run's identity and settings, as text."""

    run_id: str
    when: str
    duration: str
    set_hash: str
    set_hash_short: str
    cases: str
    repeat: str
    few_shot: str
    models: list[tuple[str, str]]
    prompts: list[tuple[str, str]]


@dataclass(frozen=True)
class Bar:
    """The geometry of one Wilson bar (SVG user units)."""

    width: float
    height: float
    start: float
    rate: float
    low: float
    high: float
    ticks: list[float]


@dataclass(frozen=True)
class VersionView:
    """One version's row of the comparison table."""

    role: str
    version: str
    passed: str
    rate: str
    interval: str
    bar: Bar
    flaky: list[str]
    similarity: str
    categories: list[tuple[str, int]]


@dataclass(frozen=True)
class LineView:
    """One drafted line of a case under one version."""

    line: str
    passed: bool
    categories: list[str]
    similarity: str
    error: str | None


@dataclass(frozen=True)
class CaseView:
    """One row of the side-by-side view."""

    key: str
    change: str
    prospect: list[tuple[str, str]]
    extra: list[tuple[str, str]]
    final: str | None
    baseline: LineView
    candidate: LineView
    diff: list[tuple[str, str]]


@dataclass(frozen=True)
class DrafterView:
    """The drafter comparison, ready to print."""

    verdict: str
    tone: str
    explanation: str
    baseline: str
    candidate: str
    versions: list[VersionView]
    n: str
    newly_fixed: str
    newly_failing: str
    p_value: str
    cases: list[CaseView]
    change_counts: list[tuple[str, int]]


@dataclass(frozen=True)
class Point:
    """One reliability bucket on the chart."""

    cx: float
    cy: float
    r: float
    label_x: float
    anchor: str
    label: str
    tip: str


@dataclass(frozen=True)
class Chart:
    """The geometry of the reliability chart (SVG user units)."""

    width: float
    height: float
    left: float
    top: float
    size: float
    ticks: list[tuple[float, str]]
    points: list[Point]
    path: str


@dataclass(frozen=True)
class CriticView:
    """The critic's agreement with the humans, ready to print."""

    prompt: str
    n: str
    critic_failed: str
    base_rate_bad: str
    confusion: dict[str, str]
    precision: str
    recall: str
    kappa: str
    brier: str
    per_category: list[dict[str, str]]
    per_rule: list[dict[str, str]]
    reliability: list[dict[str, str]]
    chart: Chart | None


@dataclass(frozen=True)
class Page:
    """Everything the template prints."""

    title: str
    header: Header
    drafter: DrafterView | None
    critic: CriticView | None


def _header(run: dict[str, Any]) -> Header:
    set_hash = _text(run.get("set_hash"))
    models = run.get("models") or {}
    prompts = run.get("prompts") or {}
    return Header(
        run_id=_text(run.get("id")), when=_when(run.get("created_at")),
        duration=_duration(run.get("created_at"), run.get("finished_at")),
        set_hash=set_hash, set_hash_short=set_hash[:12], cases=_text(run.get("cases")),
        repeat=_text(run.get("repeat")), few_shot=_text(run.get("few_shot")),
        models=[(role, _text(models.get(role))) for role in ("drafter", "critic")],
        prompts=[(role, _text(prompts.get(role))) for role in ("baseline", "candidate", "critic")],
    )


def _bar(rate: Any, interval: Any) -> Bar:
    span = BAR_WIDTH - 2 * BAR_PAD

    def x(v: Any) -> float:
        return round(BAR_PAD + span * _unit(v), 1)

    low, high = (interval[0], interval[1]) if isinstance(interval, list | tuple) and len(interval) == 2 else (rate, rate)
    return Bar(BAR_WIDTH, BAR_HEIGHT, BAR_PAD, x(rate), x(low), x(high), [x(t) for t in (0.0, 0.25, 0.5, 0.75, 1.0)])


def _version(role: str, s: dict[str, Any]) -> VersionView:
    interval = s.get("wilson_95")
    counts = s.get("categories") or {}
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES]
    return VersionView(
        role=role, version=_text(s.get("version")),
        passed=f"{_text(s.get('passed'))} / {_text(s.get('cases'))}", rate=pct(s.get("pass_rate")),
        interval=(f"{pct(interval[0])} – {pct(interval[1])}" if isinstance(interval, list | tuple)
                  and len(interval) == 2 else NONE),
        bar=_bar(s.get("pass_rate"), interval), flaky=[str(k) for k in s.get("flaky_cases") or []],
        similarity=num(s.get("mean_similarity"), 0), categories=[(str(k), int(v)) for k, v in top],
    )


def _line(side: dict[str, Any] | None) -> LineView:
    side = side or {}
    return LineView(line=str(side.get("line") or ""), passed=bool(side.get("passed")),
                    categories=[str(c) for c in side.get("categories") or []],
                    similarity=num(side.get("similarity"), 0),
                    error=None if side.get("error") is None else str(side.get("error")))


def _case(case: dict[str, Any], fixed: set[str], failing: set[str]) -> CaseView:
    key = str(case.get("key", ""))
    change = case.get("change") or ("newly failing" if key in failing else "newly fixed" if key in fixed else "same")
    prospect = case.get("prospect") or {}
    main = [(label, _text(prospect.get(name))) for name, label in PROSPECT_FIELDS]
    known = {name for name, _ in PROSPECT_FIELDS}
    extra = [(str(k), str(v)) for k, v in prospect.items() if k not in known and v not in (None, "")]
    baseline, candidate = _line(case.get("baseline")), _line(case.get("candidate"))
    final = case.get("final")
    return CaseView(key=key, change=str(change), prospect=main, extra=extra,
                    final=None if final in (None, "") else str(final), baseline=baseline, candidate=candidate,
                    diff=word_diff(baseline.line, candidate.line))


def _tone(verdict: str) -> str:
    return verdict if verdict in ("improved", "regressed") else "neutral"


def _explanation(tone: str, base: str, cand: str, fixed: str, failing: str, p: str) -> str:
    if tone == "improved":
        return (f"{cand} passes the gate on more cases than {base}: {fixed} newly fixed against {failing} newly "
                f"failing (McNemar exact p = {p}).")
    if tone == "regressed":
        return (f"{cand} fails the gate on more cases than {base}: {failing} newly failing against {fixed} newly "
                f"fixed (McNemar exact p = {p}).")
    return (f"{fixed} newly fixed against {failing} newly failing could be chance (McNemar exact p = {p}); "
            f"this set cannot tell {cand} from {base}.")


def _drafter(d: dict[str, Any]) -> DrafterView:
    base, cand = d.get("baseline") or {}, d.get("candidate") or {}
    paired = d.get("paired") or {}
    verdict = _text(d.get("verdict"))
    tone = _tone(verdict)
    fixed, failing = set(map(str, d.get("newly_fixed_cases") or [])), set(map(str, d.get("newly_failing_cases") or []))
    cases = [_case(c, fixed, failing) for c in d.get("cases") or []]
    # Stable sort: within each group the cases keep the report's order.
    cases.sort(key=lambda c: CHANGE_ORDER.get(c.change, 2))
    counts = {label: sum(1 for c in cases if c.change == label) for label in ("newly failing", "newly fixed", "same")}
    p = _p_value(paired.get("mcnemar_exact_p"))
    n_fixed, n_failing = _text(paired.get("newly_fixed")), _text(paired.get("newly_failing"))
    base_name, cand_name = _text(base.get("version")), _text(cand.get("version"))
    return DrafterView(
        verdict=verdict, tone=tone, explanation=_explanation(tone, base_name, cand_name, n_fixed, n_failing, p),
        baseline=base_name, candidate=cand_name,
        versions=[_version("baseline", base), _version("candidate", cand)],
        n=_text(paired.get("n")), newly_fixed=n_fixed, newly_failing=n_failing, p_value=p, cases=cases,
        change_counts=[(label, n) for label, n in counts.items() if n],
    )


def _chart(buckets: list[dict[str, Any]]) -> Chart | None:
    if not buckets:
        return None
    most = max(int(b.get("n") or 0) for b in buckets) or 1

    def x(v: Any) -> float:
        return round(CHART_LEFT + CHART_SIZE * _unit(v), 1)

    def y(v: Any) -> float:
        return round(CHART_TOP + CHART_SIZE * (1 - _unit(v)), 1)

    points = []
    for b in sorted(buckets, key=lambda b: _unit(b.get("mean_confidence"))):
        n = int(b.get("n") or 0)
        cx, r = x(b.get("mean_confidence")), round(3 + 9 * math.sqrt(n / most), 1)
        # Labels go right of the dot, or left of it in the right half where the plot's edge is near.
        right = cx < CHART_LEFT + CHART_SIZE / 2
        points.append(Point(
            cx=cx, cy=y(b.get("observed")), r=r, label_x=round(cx + r + 3 if right else cx - r - 3, 1),
            anchor="start" if right else "end", label=f"n={n}",
            tip=(f"confidence {pct(b.get('low'))}–{pct(b.get('high'))}: n = {n}, mean confidence "
                 f"{pct(b.get('mean_confidence'))}, approved as is {pct(b.get('observed'))}"),
        ))
    return Chart(width=CHART_LEFT + CHART_SIZE + CHART_RIGHT, height=CHART_TOP + CHART_SIZE + CHART_BOTTOM,
                 left=CHART_LEFT, top=CHART_TOP, size=CHART_SIZE,
                 ticks=[(round(CHART_SIZE * t, 1), pct(t)) for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
                 points=points, path=" ".join(f"{p.cx},{p.cy}" for p in points))


def _critic(c: dict[str, Any]) -> CriticView:
    confusion = c.get("confusion") or {}
    keys = ("flagged_bad", "flagged_ok", "passed_bad", "passed_ok")
    cells = {k: _text(confusion.get(k)) for k in keys}
    counts: dict[str, int] = {k: v for k in keys if isinstance(v := confusion.get(k), int)}
    if len(counts) == len(keys):
        cells |= {"bad": str(counts["flagged_bad"] + counts["passed_bad"]),
                  "ok": str(counts["flagged_ok"] + counts["passed_ok"]),
                  "flagged": str(counts["flagged_bad"] + counts["flagged_ok"]),
                  "passed": str(counts["passed_bad"] + counts["passed_ok"])}
    else:
        cells |= dict.fromkeys(("bad", "ok", "flagged", "passed"), NONE)
    buckets = [b for b in c.get("reliability") or [] if isinstance(b, dict)]
    return CriticView(
        prompt=_text(c.get("prompt")), n=_text(c.get("n")), critic_failed=_text(c.get("critic_failed")),
        base_rate_bad=pct(c.get("base_rate_bad")), confusion=cells,
        precision=pct(c.get("precision")), recall=pct(c.get("recall")), kappa=num(c.get("kappa"), 2),
        brier=num(c.get("brier"), 3),
        per_category=[{"category": _text(r.get("category")), "flagged": _text(r.get("flagged")),
                       "support": _text(r.get("support")), "precision": pct(r.get("precision")),
                       "recall": pct(r.get("recall"))} for r in c.get("per_category") or []],
        per_rule=[{"code": _text(r.get("code")), "fired": _text(r.get("fired")),
                   "on_approved": _text(r.get("on_approved")), "precision": pct(r.get("precision"))}
                  for r in c.get("per_rule") or []],
        reliability=[{"range": f"{pct(b.get('low'))} – {pct(b.get('high'))}", "n": _text(b.get("n")),
                      "mean_confidence": pct(b.get("mean_confidence")), "observed": pct(b.get("observed")),
                      "gap": (NONE if b.get("observed") is None or b.get("mean_confidence") is None
                              else f"{100 * (b['observed'] - b['mean_confidence']):+.0f} pts")}
                     for b in buckets],
        chart=_chart(buckets),
    )


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("evals", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (no script, no external resource; all data escaped)."""
    run = report.get("run") or {}
    drafter = report.get("drafter")
    critic = report.get("critic")
    header = _header(run)
    drafter_view = _drafter(drafter) if isinstance(drafter, dict) else None
    title = f"Eval run #{header.run_id}"
    if drafter_view is not None:
        title += f" – {drafter_view.verdict}"
    page = Page(title=title, header=header, drafter=drafter_view,
                critic=_critic(critic) if isinstance(critic, dict) else None)
    return _env().get_template("eval_report.html.j2").render(page=page)
