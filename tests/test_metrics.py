"""The metrics on synthetic decision logs with known answers, and `firstpass stats` over a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.metrics import (
    DAY,
    CanaryResult,
    Decision,
    Finding,
    Inputs,
    Limits,
    Line,
    backlog,
    catches,
    compute,
    narrowing,
    overrides,
    reviewers,
    sent_error,
    volume,
)
from firstpass.cli import main
from firstpass.metrics import StatsError, parse_since
from graph.human import Decision as Verdict

from tests.conftest import AppFactory, load_items, prospect

NOW = 1_763_700_000.0  # 2025-11-21, a Friday
RULE = Finding("rule", "pricing.term", "pricing")
CRITIC = Finding("critic", "tone", "tone")


def line(i: int, route: str = "review", at: float = NOW, **kw) -> Line:
    return Line(id=i, run="r", at=at, status=kw.pop("status", "review" if route == "review" else "auto_approved"),
                route=route, **kw)


def decision(i: int, action: str = "approve", kind: str = "review", **kw) -> Decision:
    return Decision(item_id=i, at=kw.pop("at", NOW), reviewer=kw.pop("reviewer", "ana"), action=action, kind=kind, **kw)


def test_volume_per_day_and_rates() -> None:
    lines = [line(1, "auto", NOW - DAY), line(2, "review", NOW - DAY), line(3, "auto"), line(4, "auto"),
             line(5, None), line(6, "review", shadow=True)]
    v = volume(lines)
    assert (v["gated"], v["auto_approved"], v["reviewed"], v["shadow"]) == (5, 3, 2, 1)
    assert v["auto_rate"] == pytest.approx(0.6) and v["review_rate"] == pytest.approx(0.4)
    assert [(d["gated"], d["auto"], d["review"]) for d in v["per_day"]] == [(2, 1, 1), (3, 2, 1)]


def test_backlog_projection_clears_or_grows() -> None:
    # 70 flagged over the last 7 days (10/day), 140 first verdicts (20/day): 100 pending clear in 100 / 10 = 10 days.
    lines = [line(i, at=NOW - (i % 7) * DAY - 1) for i in range(70)] + [line(1000, at=NOW - 30 * DAY)]
    decisions = [decision(i % 70, at=NOW - (i % 7) * DAY - 1) for i in range(140)]
    b = backlog(lines, decisions, 100, NOW)
    assert b["arrivals_per_day"] == pytest.approx(10) and b["reviews_per_day"] == pytest.approx(20)
    assert b["clears_in_days"] == pytest.approx(10) and b["message"] == "at this pace the queue of 100 clears in 10.0 days"
    slow = backlog(lines, decisions[:35], 100, NOW)
    assert slow["clears_in_days"] is None
    assert slow["message"] == "review capacity is 5/day against 10 flagged/day: the queue of 100 grows by 5/day"
    assert backlog(lines, [], 0, NOW)["message"] == "the queue is empty"


def test_overrides_by_action_category_reviewer_version_and_tier() -> None:
    lines = {i: line(i, tier="standard" if i < 3 else "high", prompt_version="drafter-v1" if i % 2 else "drafter-v2",
                     findings=(RULE,) if i == 1 else ()) for i in range(1, 5)}
    decisions = [decision(1, "edit"), decision(2, "reject", categories=("tone",), reviewer="ben"),
                 decision(3, "approve"), decision(4, "regenerate"), decision(4, "approve", first=False)]
    o = overrides(lines, decisions)
    assert (o["decisions"], o["overrides"], o["override_rate"]) == (4, 3, 0.75)
    assert {r["key"]: r["decisions"] for r in o["by_action"]} == {"approve": 1, "edit": 1, "reject": 1, "regenerate": 1}
    # The edit has no category of its own: the gate's finding names it; the regenerate has neither: other.
    assert {r["key"]: r["overrides"] for r in o["by_category"]} == {"pricing": 1, "tone": 1, "other": 1}
    assert {r["key"]: (r["decisions"], r["overrides"]) for r in o["by_reviewer"]} == {"ana": (3, 2), "ben": (1, 1)}
    assert {r["key"]: r["override_rate"] for r in o["by_tier"]} == {"high": 0.5, "standard": 1.0}
    assert {r["key"]: r["decisions"] for r in o["by_prompt_version"]} == {"drafter-v1": 2, "drafter-v2": 2}


def test_catches_count_confirmed_and_overruled_findings_per_check() -> None:
    lines = {1: line(1, findings=(RULE, CRITIC)), 2: line(2, findings=(RULE,)), 3: line(3, findings=(CRITIC,)),
             4: line(4, "auto", findings=(CRITIC,))}
    decisions = [decision(1, "edit"), decision(2, "approve"), decision(3, "reject", categories=("tone",)),
                 decision(4, "approve", kind="audit")]  # audits are not flagged lines
    c = catches(lines, decisions)
    assert c["rules"] == [{"key": "pricing.term", "flagged": 2, "confirmed": 1, "overruled": 1, "precision": 0.5}]
    assert c["critic"] == [{"key": "tone", "flagged": 2, "confirmed": 2, "overruled": 0, "precision": 1.0}]


def test_error_on_sent_lines_with_exact_intervals_by_week() -> None:
    lines = {i: line(i, "auto", at=NOW - (7 * DAY if i < 250 else 0), audited=True) for i in range(500)}
    lines[999] = line(999, "auto", audit_sample=True)  # sampled, not yet audited
    decisions = [decision(i, "approve", kind="audit") for i in range(500)]
    e = sent_error(lines, decisions)
    assert (e["k"], e["n"], e["rate"], e["waiting"]) == (0, 500, 0.0, 1)
    assert e["upper"] == pytest.approx(0.0060, abs=1e-4)  # published: n = 500, k = 0 -> 0.60%
    assert e["high"] == pytest.approx(0.0074, abs=1e-4)  # two-sided 95%: 1 - 0.025^(1/500)
    decisions[0] = decision(0, "edit", kind="audit")
    e = sent_error(lines, decisions)
    assert e["upper"] == pytest.approx(0.0095, abs=1e-4)  # published: n = 500, k = 1 -> 0.95%
    assert [(w["week"], w["k"], w["n"]) for w in e["by_week"]] == [("2025-W46", 1, 250), ("2025-W47", 0, 250)]


def test_reviewer_pace_reading_time_peers_and_rubber_stamp_warnings() -> None:
    lines = {i: line(i, findings=(CRITIC,)) for i in range(60)}
    # ana: 30 decisions 20 s apart, each 1.5 s on a 15-word line (3 s to read at 300 wpm): all too fast; approves all.
    ana = [decision(i, "approve", at=NOW + 20 * i, duration_ms=1500, words=15) for i in range(30)]
    # ben: 30 decisions 60 s apart, 12 s each; approves half.
    ben = [decision(30 + i, "approve" if i % 2 else "edit", reviewer="ben", at=NOW + 60 * i, duration_ms=12000,
                    words=15) for i in range(30)]
    canaries = [CanaryResult("ana", NOW, i < 2) for i in range(10)] + [CanaryResult("ben", NOW, True)] * 10
    rows = {r["reviewer"]: r for r in reviewers(lines, ana + ben, canaries, Limits())}
    a, b = rows["ana"], rows["ben"]
    assert a["per_hour"] == pytest.approx(30 / ((29 * 20 + 1.5) / 3600))
    assert a["median_seconds"] == 1.5 and b["median_seconds"] == 12
    assert a["fast_share"] == 1.0 and b["fast_share"] == 0.0
    assert a["approve_rate"] == 1.0 and a["peer_approve_rate"] == pytest.approx(0.5)
    assert (a["canaries"], a["canaries_caught"], a["catch_rate"]) == (10, 2, 0.2)
    assert len(a["warnings"]) == 2 and "2 of 10 check lines" in a["warnings"][0]
    assert "faster than the line can be read" in a["warnings"][1]
    assert b["warnings"] == []
    # Too few decisions say too little: no reading-time warning below min_decisions.
    few = {r["reviewer"]: r for r in reviewers(lines, ana[:5], [], Limits())}
    assert few["ana"]["warnings"] == []


def test_narrowing_verdicts_per_tier_and_category() -> None:
    limits = Limits(accepted_error_rate=0.02, min_outputs=500)
    lines = {i: line(i, tier="high") for i in range(500)} | {i: line(i, tier="standard") for i in range(500, 900)}
    decisions = [decision(i, "approve") for i in range(900)]
    decisions[0] = decision(0, "reject", categories=("tone",))
    rows = {(r["tier"], r["category"]): r for r in narrowing(lines, decisions, limits)}
    high = rows[("high", "any")]
    assert (high["measured"], high["errors"], high["ready"]) == (500, 1, True)
    assert high["upper"] == pytest.approx(0.0095, abs=1e-4) and high["verdict"] == "ready to narrow"
    assert rows[("high", "tone")]["ready"]
    standard = rows[("standard", "any")]
    assert not standard["ready"] and standard["more_needed"] == 100
    assert standard["verdict"] == "not ready: 100 more measured outputs needed"
    bad = narrowing({1: line(1, tier="t")}, [decision(1, "edit")], limits)[0]
    assert not bad["ready"] and bad["verdict"].startswith("not ready: 100.0% of outputs")


STABLE_KEYS = {
    "volume": ["auto_approved", "auto_rate", "gated", "per_day", "review_rate", "reviewed", "shadow"],
    "backlog": ["arrivals_per_day", "clears_in_days", "days_measured", "message", "pending", "reviews_per_day"],
    "overrides": ["by_action", "by_category", "by_kind", "by_prompt_version", "by_reviewer", "by_tier", "decisions",
                  "override_rate", "overrides"],
    "catches": ["critic", "rules"],
    "sent_error": ["by_week", "high", "k", "low", "n", "rate", "upper", "waiting"],
}


def test_json_keys_are_stable() -> None:
    figures = compute(Inputs([line(1)], [decision(1)], 1, NOW))
    assert sorted(figures) == ["backlog", "catches", "generated_at", "limits", "narrowing", "overrides", "reviewers",
                               "sent_error", "volume"]
    for key, keys in STABLE_KEYS.items():
        assert sorted(figures[key]) == keys, key
    json.dumps(figures)


def test_since_parses_dates_and_days_and_names_a_bad_value() -> None:
    assert parse_since("2025-11-21") == pytest.approx(1_763_683_200.0)
    assert parse_since("7d", now=NOW) == NOW - 7 * DAY
    with pytest.raises(StatsError, match="YYYY-MM-DD or Nd"):
        parse_since("last week")


def test_stats_over_a_real_database(make_app: AppFactory, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app()
    load_items(app, "r", [prospect(i) for i in range(4)])
    for item in app.store.items(run="r"):
        app.process(item)
    items = app.store.items(run="r")
    assert all(i.status == "auto_approved" and i.audit_sample for i in items)  # a new gate audits everything
    app.audit(items[0].id, Verdict(action="approve", reviewer="ana", duration_ms=4000))
    app.audit(items[1].id, Verdict(action="reject", reviewer="ana", categories=["tone"], duration_ms=9000))
    app.audit(items[2].id, Verdict(action="approve", reviewer="ben", duration_ms=5000))
    app.undo(items[2].id, "ben")  # taken back: it does not count
    report = home / "stats.html"
    assert main(["stats", "--json", "--html-out", str(report)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["volume"]["gated"] == 4 and figures["volume"]["auto_rate"] == 1.0
    assert (figures["sent_error"]["k"], figures["sent_error"]["n"], figures["sent_error"]["waiting"]) == (1, 2, 2)
    assert figures["backlog"]["pending"] == 2
    assert [r["reviewer"] for r in figures["reviewers"]] == ["ana"]
    assert figures["audit_rates"][0]["rate"] == 1.0 and "1 of 2 audited" in figures["audit_rates"][0]["reason"]
    assert "<svg" in report.read_text() and "Content-Security-Policy" in report.read_text()
    assert main(["stats", "--run", "r"]) == 0
    out = capsys.readouterr().out
    assert "error on sent lines (audits): 1 of 2 changed" in out and "audit rate in force" in out
    assert main(["stats", "--run", "nope"]) == 2
    assert "there is no run 'nope'" in capsys.readouterr().err


def test_the_html_report_escapes_what_it_shows_and_loads_nothing() -> None:
    from evals.metrics_report import render_metrics_html

    xss = "<script>window.__xss = 1</script>"
    lines = [line(1, "auto", audited=True, tier=xss), line(2, at=NOW - 8 * DAY)]
    page = render_metrics_html(compute(Inputs(lines, [decision(1, "edit", kind="audit", reviewer=xss)], 1, NOW))
                               | {"audit_rates": [], "filter": {"run": None, "since": None}})
    assert xss not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page and "<script" not in page
    assert page.count("<title>") == 1 + 2 * 2 + 1  # the page, two days of two parts, one week
