"""The review panel's handlers and HTML, called as plain functions (no browser, no Gradio server)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from critics.findings import Finding
from firstpass.db import Item, reviewqueue
from firstpass.service import Firstpass
from graph.human import Decision
from graph.models import drafter_for
from ui import handlers, render
from ui.handlers import Session

from ui_support import CONFIDENCES, LINES, csv_rows, id_of, load_csv, make_app, scripted_app

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> ${7*7} {{company}}'
ROWS = [
    ("1", "Amara", "Acme Dental", "Reno", "Opened a clinic. " + XSS),
    ("2", "Bo", "Beta Labs", "Boise", "Opened a lab."),
    ("3", "Cy", "Gamma Co", "Tulsa", "Hired a CFO."),  # clean: auto-approved
]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Firstpass]:
    a = scripted_app(tmp_path, ROWS)
    yield a
    a.close()


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_open_next_shows_the_most_severe_item_with_its_record(app: Firstpass) -> None:
    session, view = handlers.open_next(app, "alice", Session())
    acme = id_of(app, "Acme Dental")
    assert session.item_id == view.item_id == acme
    assert app.item(acme).claimed_by == "alice"
    assert "<b>2</b> left" in view.left
    assert _text(view.draft) == LINES["Acme Dental"]
    assert view.line == LINES["Acme Dental"]
    assert {"pricing", "spammy"} <= set(view.categories)
    assert "0.10" in view.confidence and "0.80" in view.confidence and "fp-conf-low" in view.confidence
    for field in ("First Name", "Company Name", "Notes", "Lead Source", "Amara", "Apollo"):
        assert field in view.record
    assert not view.audit


def test_approve_records_reviewer_and_duration_and_shows_the_next_item(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    first = session.item_id
    session, view = handlers.decide(app, "alice", session, "approve")
    assert app.item(first).status == "approved"
    [row] = app.store.audit_log(first)
    assert row.reviewer == "alice" and row.action == "approve" and row.duration_ms is not None
    assert row.findings and row.confidence == 0.1 and row.prompt_version and row.drafter_model == "fake-drafter"
    assert session.item_id == view.item_id == id_of(app, "Beta Labs")
    assert "Approved item" in view.message and "fp-msg-ok" in view.message
    assert "<b>1</b> left" in view.left
    # Approving a flagged line says the gate was wrong: an eval case.
    assert [c["verdict"] for c in app.store.eval_cases()] == ["approve"]


def test_live_check_shows_what_still_fires(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    fires = handlers.check_line(app, session.item_id, "Acme Dental has a free trial.")
    assert "pricing" in fires and "fp-check-fires" in fires
    clean = handlers.check_line(app, session.item_id, "Opening a clinic is a big step for Acme Dental.")
    assert "nothing fires" in clean
    assert handlers.check_line(app, None, "x") == ""


def test_edit_approves_the_edited_line_and_saves_an_eval_case(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    item_id = session.item_id
    line = "Opening a clinic is a big step for Acme Dental."
    session, view = handlers.decide(app, "alice", session, "edit", line=line)
    item = app.item(item_id)
    assert item.status == "approved" and item.final_line == line
    [row] = app.store.audit_log(item_id)
    assert row.action == "edit" and row.original_line == LINES["Acme Dental"] and row.final_line == line
    [case] = app.store.eval_cases()
    assert case["verdict"] == "edit" and case["final_line"] == line and case["ai_line"] == LINES["Acme Dental"]
    assert view.item_id != item_id


def test_edit_that_still_fires_needs_an_explicit_approve_anyway(app: Firstpass) -> None:
    # One edit policy for the panel and the command line: a save keeps it in review, a second key approves it.
    session, _ = handlers.open_next(app, "alice", Session())
    item_id = session.item_id
    line = "Acme Dental has a free trial for every clinic."
    session, view = handlers.decide(app, "alice", session, "edit", line=line)
    assert session.item_id == item_id and "Rules still fire on your edit (pricing" in view.message
    assert app.item(item_id).status == "review" and app.item(item_id).draft == line
    session, view = handlers.decide(app, "alice", session, "edit_anyway", line=line)
    assert app.item(item_id).status == "approved" and app.item(item_id).final_line == line
    assert "[approved anyway over rules: pricing" in app.store.audit_log(item_id)[-1].note
    assert view.kind == "ok" and "over the rules that still fire" in view.message


def test_the_refuse_policy_never_approves_a_flagged_edit(tmp_path: Path) -> None:
    strict = make_app(tmp_path, LINES, confidences=CONFIDENCES)
    strict.policy.panel.edit_with_findings = "refuse"
    load_csv(strict, "r1", csv_rows(ROWS))
    session, _ = handlers.open_next(strict, "alice", Session())
    session, view = handlers.decide(strict, "alice", session, "edit_anyway", line="Acme Dental has a free trial.")
    assert "refuses edits that the rules still flag" in view.message
    assert strict.item(session.item_id or 0).status == "review"
    strict.close()


def test_unchanged_edit_counts_as_approve(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    item_id = session.item_id
    handlers.decide(app, "alice", session, "edit", line=LINES["Acme Dental"] + "  ")
    assert app.store.audit_log(item_id)[0].action == "approve"


def test_reject_needs_a_category_and_keeps_the_item(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    item_id = session.item_id
    again, view = handlers.decide(app, "alice", session, "reject", categories=[], note="bad")
    assert again.item_id == view.item_id == item_id
    assert "category" in view.message and "fp-msg-error" in view.message
    assert app.item(item_id).status == "review" and app.item(item_id).claimed_by == "alice"
    assert app.store.audit_log(item_id) == []
    _, view = handlers.decide(app, "alice", again, "reject", categories=["pricing", "spammy"], note="offer")
    item = app.item(item_id)
    assert item.status == "rejected"
    [row] = app.store.audit_log(item_id)
    assert row.categories == ["pricing", "spammy"] and row.note == "offer"
    assert app.store.eval_cases()[0]["categories"] == ["pricing", "spammy"]
    assert "Rejected" in view.message


def test_regenerate_redrafts_through_the_graph(app: Firstpass) -> None:
    beta = id_of(app, "Beta Labs")
    session, _ = handlers.open_next(app, "alice", Session(skipped=(id_of(app, "Acme Dental"),)))
    assert session.item_id == beta
    calls = len(drafter_for(app.context.drafter).calls)
    _, view = handlers.decide(app, "alice", session, "regenerate", note="no offers, please")
    assert len(drafter_for(app.context.drafter).calls) == calls + 1
    assert "no offers, please" in drafter_for(app.context.drafter).calls[-1][-1]["content"]
    item = app.item(beta)
    assert item.draft == "Beta Labs looks like a thoughtful team to follow in Boise." and item.rounds == 1
    assert item.status == "auto_approved"
    assert "passed the gate" in view.message
    [row] = app.store.audit_log(beta)
    assert row.action == "regenerate" and row.note == "no offers, please"


def test_regenerated_draft_that_is_flagged_comes_back_to_the_queue(tmp_path: Path) -> None:
    app = make_app(tmp_path, LINES, confidences=CONFIDENCES, regenerated="{company} has a free trial, act now!!")
    load_csv(app, "r1", csv_rows(ROWS))
    session, _ = handlers.open_next(app, "alice", Session())
    item_id = session.item_id
    _, view = handlers.decide(app, "alice", session, "regenerate", note="shorter")
    item = app.item(item_id)
    assert item.status == "review" and item.rounds == 1 and "free trial" in item.draft
    assert "flagged again" in view.message
    assert reviewqueue.count(app.store).left == 2
    app.close()


def test_skip_releases_the_item_and_wraps_around(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    first = session.item_id
    session, view = handlers.skip(app, "alice", session)
    assert app.item(first).claimed_by is None
    assert session.item_id != first and session.skipped == (first,)
    assert "Skipped" in view.message
    second = session.item_id
    session, view = handlers.skip(app, "alice", session)
    assert session.item_id in (first, second) and "showing them again" in view.message


def test_second_reviewer_gets_another_item_and_a_stale_decision_is_refused(app: Firstpass) -> None:
    alice, _ = handlers.open_next(app, "alice", Session())
    bob, _ = handlers.open_next(app, "bob", Session())
    assert alice.item_id != bob.item_id
    handlers.decide(app, "alice", alice, "approve")
    # bob's tab still shows alice's decided item (say, his lease ran out and he reopened it): refused, moves on.
    stale = Session(item_id=alice.item_id, opened_at=1.0)
    after, view = handlers.decide(app, "bob", stale, "reject", categories=["tone"])
    assert "already decided (approve) by alice" in view.message and "nothing changed" in view.message
    assert app.item(alice.item_id).status == "approved" and len(app.store.audit_log(alice.item_id)) == 1
    assert after.item_id == bob.item_id


def test_decision_on_an_item_held_by_another_reviewer_is_refused(app: Firstpass) -> None:
    alice, _ = handlers.open_next(app, "alice", Session())
    sneaky = Session(item_id=alice.item_id, opened_at=1.0)
    after, view = handlers.decide(app, "bob", sneaky, "approve")
    assert "alice" in view.message and "fp-msg-error" in view.message
    assert app.item(alice.item_id).status == "review" and app.store.audit_log(alice.item_id) == []
    assert after.item_id != alice.item_id


def test_audit_items_are_marked_and_cannot_be_regenerated(tmp_path: Path) -> None:
    app = make_app(tmp_path, LINES, confidences=CONFIDENCES, audit_rate=1.0)
    load_csv(app, "r1", csv_rows(ROWS))
    gamma = id_of(app, "Gamma Co")
    session, view = handlers.open_next(app, "alice", Session(skipped=(id_of(app, "Acme Dental"), id_of(app, "Beta Labs"))))
    assert session.item_id == gamma and view.audit and "AUDIT SAMPLE" in view.header
    again, view = handlers.decide(app, "alice", session, "regenerate", note="x")
    assert again.item_id == gamma and "cannot be regenerated" in view.message
    assert app.item(gamma).audit_pending
    _, view = handlers.decide(app, "alice", again, "reject", categories=["tone"])
    assert app.item(gamma).status == "rejected" and app.item(gamma).audited_by == "alice"
    assert "Audit of item" in view.message
    app.close()


def test_empty_queue(app: Firstpass) -> None:
    session, view = handlers.open_next(app, "alice", Session(), run="no-such-run")
    assert session.item_id is None and view.item_id is None
    assert "Nothing left" in view.draft and "<b>0</b> left" in view.left
    _, view = handlers.decide(app, "alice", session, "approve")
    assert "no item open" in view.message


def test_filters_reach_the_queue(app: Firstpass) -> None:
    load_csv(app, "r2", csv_rows([("9", "Ed", "Beta Labs", "Omaha", "Opened a lab.")]))
    session, view = handlers.change_filter(app, "alice", Session(), run="r2")
    assert app.item(session.item_id).run == "r2" and "<b>1</b> left" in view.left
    first = session.item_id
    session, view = handlers.change_filter(app, "alice", session, category="spammy")
    assert app.item(first).claimed_by is None
    assert session.item_id == id_of(app, "Acme Dental") and "<b>1</b> left" in view.left
    assert handlers.runs(app) == ["r2", "r1"]


def test_export_handler(app: Firstpass, tmp_path: Path) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    session, _ = handlers.decide(app, "alice", session, "reject", categories=["spammy"])
    path, message = handlers.export(app, "r1", tmp_path / "out")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert [r["Company Name"] for r in rows] == ["Gamma Co"]
    assert "1 approved" in message and "1 rejected" in message and "1 not yet decided" in message
    assert handlers.export(app, "nope", tmp_path)[0] is None
    assert handlers.export(app, None)[0] is None


# HTML ---------------------------------------------------------------------------------------------------


def test_csv_fields_are_escaped_everywhere(app: Firstpass) -> None:
    _, view = handlers.open_next(app, "alice", Session())
    html = " ".join([view.header, view.draft, view.findings, view.record, view.check])
    assert "<script" not in html and "<img" not in html and "onerror=\"" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in view.record
    assert "&lt;img src=x onerror=&quot;window.__xss=2&quot;&gt;" in view.record


def _item(draft: str, findings: list[Finding]) -> Item:
    from critics.prospect import Prospect

    return Item(id=1, run="r", prospect_id="p", prospect=Prospect(first_name="A", company="<b>Co</b>"),
                status="review", draft=draft, findings=findings, created_at=0, updated_at=0)


def test_draft_highlights_every_span_and_escapes_the_text() -> None:
    draft = "Save <b>big</b> now!!"
    findings = [
        Finding(source="rule", code="pricing", category="pricing", severity="high", start=0, end=4, message="price"),
        Finding(source="critic", code="spammy.critic", category="spammy", severity="low", start=2, end=15,
                message="hype <i>", suggested_fix="calm <down>"),
        Finding(source="critic", code="tone.critic", category="tone", start=None, end=None, message="no span"),
        Finding(source="rule", code="x", category="other", start=50, end=60, message="out of range"),
    ]
    html = render.draft_html(draft, findings)
    assert _text(html).replace("&lt;", "<").replace("&gt;", ">") == draft
    marks = re.findall(r'<mark class="fp-hl fp-(\w+)" data-findings="([\d ]+)"[^>]*>(.*?)</mark>', html)
    assert marks == [("high", "1", "Sa"), ("high", "1 2", "ve"), ("low", "2", " &lt;b&gt;big&lt;/b&gt;")]
    listed = render.findings_html(findings, draft)
    assert listed.count('<li class="fp-finding') == 4
    assert "hype &lt;i&gt;" in listed and "Fix: calm &lt;down&gt;" in listed and "critic" in listed
    assert "<i>" not in listed and "<down>" not in listed


def test_record_falls_back_to_the_prospect_fields() -> None:
    html = render.record_html(_item("x", []))
    assert "company" in html and "&lt;b&gt;Co&lt;/b&gt;" in html and "<b>" not in html


def test_confidence_none_is_shown_as_low() -> None:
    assert "none" in render.confidence_html(None, 0.8) and "fp-conf-low" in render.confidence_html(0.5, 0.8)
    assert "fp-conf-low" not in render.confidence_html(0.9, 0.8)


def test_a_decision_on_a_line_changed_since_it_was_shown_is_refused_and_the_new_line_shown(app: Firstpass) -> None:
    session, _ = handlers.open_next(app, "alice", Session())
    item_id = session.item_id
    assert item_id is not None
    # Meanwhile the line changes under the tab (an edit that still fires rules keeps the item in review).
    app.decide(item_id, Decision(action="edit", reviewer="alice", line="Great news, {company}!"))
    stale, view = handlers.decide(app, "alice", session, "approve")
    assert "changed since it was shown" in view.message and stale.item_id == item_id
    assert app.item(item_id).status == "review" and "Great news" in view.draft
    _, view = handlers.decide(app, "alice", stale, "approve")  # now about the line on screen
    assert app.item(item_id).status == "approved" and app.item(item_id).final_line == "Great news, {company}!"


def test_a_decision_sooner_than_the_minimum_display_time_is_ignored(tmp_path: Path) -> None:
    import time

    careful = make_app(tmp_path, LINES, confidences=CONFIDENCES, min_display_ms=400)
    load_csv(careful, "r1", csv_rows(ROWS))
    session, _ = handlers.open_next(careful, "alice", Session())
    same, view = handlers.decide(careful, "alice", session, "approve")
    assert same == session and "Ignored" in view.message and careful.store.audit_log() == []
    time.sleep(0.45)
    after, view = handlers.decide(careful, "alice", session, "approve")
    assert view.kind == "ok" and after.item_id != session.item_id and len(careful.store.audit_log()) == 1
    careful.close()
