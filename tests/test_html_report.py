"""The HTML report of an eval run: the word diff, what the page says, that report data is only ever text, and
that the page runs nothing and loads nothing (in Chromium)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.html_report import render_html, word_diff

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TEMPLATE = Path(__file__).resolve().parents[1] / "evals" / "templates" / "eval_report.html.j2"

XSS_NOTES = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
XSS_COMPANY = "</title><script>window.__xss=3</script>"
# Breaks out of an attribute value, then opens a tag: put in every string field the page shows.
EVIL = '"><svg onload=alert(1)>'
VERDICT = "no detectable difference at n = 4"


def _line(line: str, passed: bool, categories: list[str] | None = None, similarity: float | None = None,
          error: str | None = None) -> dict[str, Any]:
    return {"line": line, "passed": passed, "categories": categories or [], "similarity": similarity, "error": error}


def make_report() -> dict[str, Any]:
    """A small report in the shape `firstpass eval run` writes: four cases, both sections."""
    cases = [
        {"key": "k-same", "prospect": {"company": "Gamma Co", "first_name": "Cy", "title": "CFO", "notes": "Hired a CFO."},
         "final": None, "change": "same",
         "baseline": _line("Welcome aboard at Gamma Co, Cy.", True), "candidate": _line("Welcome to Gamma Co, Cy.", True)},
        {"key": "k-fixed", "prospect": {"company": "Delta Roofing", "first_name": "Di", "title": "Founder",
                                        "notes": "Won a roofing award.", "city": "Tampa"},
         "final": "Congrats on the roofing award, Di.", "change": "newly fixed",
         "baseline": _line("Congrats to {company} on the award.", False, ["placeholder"], 48.0),
         "candidate": _line("Congrats to Delta Roofing on the 2024 roofing award.", True, [], 70.0)},
        {"key": "k-xss", "prospect": {"company": XSS_COMPANY, "first_name": "Zed", "title": "Ops", "notes": XSS_NOTES},
         "final": None, "change": "same",
         "baseline": _line('Line with "quotes" and <b>tags</b>', False, ["other"]),
         "candidate": _line("", False, ["other"], error="APITimeoutError: <timed out>")},
        {"key": "k-failing", "prospect": {"company": "Echo Bakery", "first_name": "Eve", "title": "Owner",
                                          "notes": "Third storefront."},
         "final": None, "change": "newly failing",
         "baseline": _line("A third Echo Bakery storefront is exciting.", True),
         "candidate": _line("A third storefront is exciting. Echo Bakery must be busy!", False, ["multiple_sentences"])},
    ]
    return {
        "run": {"id": 7, "created_at": 1763700000.0, "finished_at": 1763700100.0, "set_hash": "ab12cd34ef56ff00ee",
                "cases": 4, "repeat": 2, "few_shot": 3,
                "models": {"drafter": "embedded:smollm2", "critic": "embedded:gemma3"},
                "prompts": {"baseline": "drafter-v1", "candidate": "drafter-v2", "critic": "critic-v1"}},
        "drafter": {
            "baseline": {"version": "drafter-v1", "cases": 4, "passed": 3, "pass_rate": 0.75,
                         "wilson_95": [0.3006, 0.9544], "categories": {"placeholder": 1, "other": 1},
                         "flaky_cases": ["k-same"], "mean_similarity": 48.0},
            "candidate": {"version": "drafter-v2", "cases": 4, "passed": 2, "pass_rate": 0.5,
                          "wilson_95": [0.15, 0.85], "categories": {"multiple_sentences": 1, "other": 1},
                          "flaky_cases": [], "mean_similarity": None},
            "paired": {"n": 4, "newly_fixed": 1, "newly_failing": 1, "mcnemar_exact_p": 1.0},
            "verdict": VERDICT,
            "newly_fixed_cases": ["k-fixed"], "newly_failing_cases": ["k-failing"],
            "cases": cases,
        },
        "critic": {
            "prompt": "critic-v1", "n": 40, "critic_failed": 1, "base_rate_bad": 0.45,
            "confusion": {"flagged_bad": 15, "flagged_ok": 5, "passed_bad": 3, "passed_ok": 17},
            "precision": 0.75, "recall": 0.8333, "kappa": 0.6, "brier": 0.1834,
            "per_category": [{"category": "too_long", "flagged": 6, "support": 5, "precision": 0.8, "recall": 1.0},
                             {"category": "tone", "flagged": 0, "support": 1, "precision": None, "recall": 0.0}],
            "per_rule": [{"code": "form.too_long", "fired": 6, "on_approved": 1, "precision": 0.833}],
            "reliability": [{"low": 0.3, "high": 0.4, "n": 6, "mean_confidence": 0.35, "observed": 0.33},
                            {"low": 0.5, "high": 0.6, "n": 8, "mean_confidence": 0.55, "observed": 0.5},
                            {"low": 0.8, "high": 0.9, "n": 12, "mean_confidence": 0.85, "observed": 0.75}],
        },
    }


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("a b c", "a x c", [("same", "a"), ("del", "b"), ("ins", "x"), ("same", "c")]),
    ("same  words\there", "same words here", [("same", "same words here")]),
    ("", "a new line", [("ins", "a new line")]),
    ("an old line", "  ", [("del", "an old line")]),
    ("", "", []),
    ("a b c d", "x y", [("del", "a b c d"), ("ins", "x y")]),
    ("Congrats to {company} on the award.", "Congrats to Delta Roofing on the 2024 roofing award.",
     [("same", "Congrats to"), ("del", "{company}"), ("ins", "Delta Roofing"), ("same", "on the"),
      ("ins", "2024 roofing"), ("same", "award.")]),
])
def test_word_diff(old: str, new: str, expected: list[tuple[str, str]]) -> None:
    assert word_diff(old, new) == expected


@pytest.mark.parametrize(("old", "new"), [
    ("one two three four five", "one three two four six five"),
    ("the the the cat", "the cat the the"),
    ("Hi Bo, As an AI I noticed Beta Labs raised $5M.", "Congrats on the seed round at Beta Labs, Bo."),
])
def test_word_diff_runs_rebuild_both_lines_and_never_repeat_a_kind(old: str, new: str) -> None:
    runs = word_diff(old, new)
    assert " ".join(t for kind, t in runs if kind != "ins") == " ".join(old.split())
    assert " ".join(t for kind, t in runs if kind != "del") == " ".join(new.split())
    assert all(a[0] != b[0] for a, b in zip(runs, runs[1:], strict=False))


def test_the_page_shows_the_run_the_verdict_and_both_versions() -> None:
    page = render_html(make_report())
    assert page.startswith("<!doctype html>")
    assert f'class="verdict-text"><span class="verdict-mark" aria-hidden="true">≈</span>{VERDICT}</div>' in page
    assert "verdict-neutral" in page
    assert f"<title>Eval run #7 – {VERDICT}</title>" in page
    for text in ("drafter-v1", "drafter-v2", "critic-v1", "embedded:smollm2", "embedded:gemma3", "ab12cd34ef56",
                 "2025-11-21 04:40 UTC", "1 min 40 s"):
        assert text in page
    assert "ab12cd34ef56ff00ee" not in page.replace('title="ab12cd34ef56ff00ee"', "")  # short in the text


@pytest.mark.parametrize(("verdict", "tone"), [("improved", "improved"), ("regressed", "regressed")])
def test_the_verdict_has_its_tone(verdict: str, tone: str) -> None:
    report = make_report()
    report["drafter"]["verdict"] = verdict
    page = render_html(report)
    assert f"verdict verdict-{tone}" in page and f"</span>{verdict}</div>" in page


def test_numbers_are_formatted() -> None:
    page = render_html(make_report())
    assert ">75%<" in page and ">50%<" in page  # pass rates, no decimals
    assert "30% – 95%" in page and "15% – 85%" in page  # Wilson intervals
    assert "McNemar exact p = <strong>1.00</strong>" in page  # three significant digits
    assert ">48<" in page  # mean similarity; the candidate's is None
    assert '<td class="num">–</td>' in page  # None precision for "tone"
    assert ">83%<" in page and ">0.60<" in page and ">0.183<" in page and ">45%<" in page
    report = make_report()
    report["drafter"]["paired"]["mcnemar_exact_p"] = 0.0001234567
    assert "p = <strong>0.000123</strong>" in render_html(report)


def test_report_data_is_escaped_everywhere() -> None:
    page = render_html(make_report())
    assert "<script" not in page and "<img" not in page  # the page itself has neither
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img src=x onerror=&#34;window.__xss=2&#34;&gt;" in page
    assert "&lt;/title&gt;&lt;script&gt;window.__xss=3&lt;/script&gt;" in page
    assert page.split("</head>")[0].count("</title>") == 1  # the company did not close the document's title
    assert "Line with &#34;quotes&#34; and &lt;b&gt;tags&lt;/b&gt;" in page
    assert "APITimeoutError: &lt;timed out&gt;" in page


def _poison(value: Any) -> Any:
    """Every string in a report, with EVIL appended (keys of the change field kept so the rows still sort)."""
    if isinstance(value, dict):
        return {k: v if k == "change" else _poison(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v) for v in value]
    return value + EVIL if isinstance(value, str) else value


def test_no_string_from_the_report_becomes_markup() -> None:
    report = _poison(make_report())
    report["drafter"]["baseline"]["categories"] = {"too_long" + EVIL: 2}
    page = render_html(report)
    assert "onload" in page  # the data is on the page, as text
    assert "<svg onload" not in page and '">' + "<svg" not in page
    assert page.count("<svg") == 3  # two Wilson bars and the reliability curve


def test_the_template_marks_nothing_safe_and_has_no_script() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert not re.search(r"\|\s*safe\b", text) and "Markup" not in text
    assert "<script" not in text.lower() and "javascript:" not in text.lower()


def test_the_page_refers_to_nothing_outside_itself() -> None:
    report = make_report()
    report["drafter"]["cases"][0]["prospect"]["notes"] = "Site: acme.example, logo at /logo.png"
    page = render_html(report)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<[^>]*\s(src|href|srcset|xlink:href)\s*=", page)  # no tag loads anything
    assert "url(" not in page and "@import" not in page and "@font-face" not in page


def test_sections_that_did_not_run_say_so() -> None:
    report = make_report()
    report["drafter"] = None
    del report["critic"]
    page = render_html(report)
    assert "Drafter comparison: not run." in page and "Critic evaluation: not run." in page
    assert 'id="verdict"' not in page and "<svg" not in page
    assert "Eval run #7" in page
    drafter_only = make_report()
    drafter_only["critic"] = None
    page = render_html(drafter_only)
    assert "Critic evaluation: not run." in page and "Drafter comparison: not run." not in page
    assert "not run" in render_html({})


def test_cases_run_newly_failing_then_newly_fixed_then_the_rest_with_the_diff() -> None:
    page = render_html(make_report())
    table = page[page.index('<table class="cases">'):]
    order = [table.index(f"<code>{key}</code>") for key in ("k-failing", "k-fixed", "k-same", "k-xss")]
    assert order == sorted(order)
    assert "<del>{company}</del> <ins>Delta Roofing</ins> <span>on the</span> <ins>2024 roofing</ins>" in table
    assert "3 more field" not in table and "1 more field</summary>" in table  # Delta's city
    assert "Congrats on the roofing award, Di." in table  # the human's line
    assert table.count('<span class="badge">pass</span>') == 4 and table.count('<span class="badge">fail</span>') == 4


def test_the_charts_are_inline_svg() -> None:
    page = render_html(make_report())
    assert '<svg class="wilson baseline"' in page and '<svg class="wilson candidate"' in page
    assert page.count('<g class="bucket">') == 3 and 'class="diagonal"' in page
    assert "<title>confidence 80%–90%: n = 12, mean confidence 85%, approved as is 75%</title>" in page
    report = copy.deepcopy(make_report())
    report["critic"]["reliability"] = []
    assert '<svg class="reliability"' not in render_html(report)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.browser
def test_the_page_in_chromium_runs_nothing_and_loads_nothing(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    path = tmp_path / "report.html"
    path.write_text(render_html(make_report()), encoding="utf-8")
    url = path.as_uri()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    page.goto(url)
    page.wait_for_load_state("load")

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    expect(page.get_by_text(XSS_NOTES, exact=True)).to_be_visible()  # the payload, shown as text
    expect(page.get_by_text(XSS_COMPANY, exact=True)).to_be_visible()
    assert page.title() == f"Eval run #7 – {VERDICT}"

    verdict = page.locator("#verdict .verdict-text")
    expect(verdict).to_be_visible()
    expect(verdict).to_contain_text(VERDICT)
    expect(page.locator("svg.wilson")).to_have_count(2)
    expect(page.locator("svg.reliability")).to_be_visible()
    expect(page.locator("svg.reliability g.bucket circle")).to_have_count(3)
    expect(page.locator("svg.reliability line.diagonal")).to_have_count(1)
    box = page.locator("svg.reliability").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 200
    expect(page.locator("td.diff del").first).to_be_visible()
    expect(page.locator("td.diff ins").first).to_be_visible()

    assert requests and all(r == url for r in requests), requests
    context.close()
