"""The review panel's logic as plain functions over a Firstpass app: plain values in, plain values out.

ui/app.py only wires these to Gradio components; tests call them directly. A browser tab's place in the
queue is a `Session` (kept server-side in gr.State); what the tab shows is a `View`.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from critics.findings import CATEGORIES
from evals.html_report import render_html
from firstpass import calibrate, metrics
from firstpass.db import Item, reviewqueue
from firstpass.db.canarystore import CANARY_RUN
from firstpass.evalrun import history_row
from firstpass.export import ExportError, export_run
from firstpass.service import DecisionError, Firstpass
from graph.human import Decision
from graph.nodes import edit_rules
from ui import render

log = logging.getLogger(__name__)
LEASE_SECONDS = reviewqueue.DEFAULT_LEASE_SECONDS
# The panel's calibration view uses the usual level; `firstpass calibrate --delta` chooses another.
CALIBRATION_DELTA = 0.05


@dataclass(frozen=True)
class Session:
    """One browser tab's place in the queue: the item it holds, the checkpoint it shows, since when, what it skipped."""

    item_id: int | None = None
    opened_at: float = 0.0
    skipped: tuple[int, ...] = ()
    version: str | None = None


@dataclass(frozen=True)
class View:
    """Everything the panel shows for one item (or for an empty queue), as HTML and plain values."""

    item_id: int | None
    header: str
    draft: str
    confidence: str
    findings: str
    record: str
    line: str
    check: str
    categories: list[str]
    left: str
    message: str
    audit: bool = False
    kind: str = "info"
    version: str | None = None


def item_view(app: Firstpass, reviewer: str, item_id: int | None, run: str | None = None,
              category: str | None = None, message: str = "", kind: str = "info") -> View:
    """The view of one item (None: the empty queue), with the queue count and a status message."""
    counted = reviewqueue.count(app.store, reviewer, run, category)
    left = render.left_html(counted.left, counted.held_by_others)
    if item_id is None:
        return View(None, '<div class="fp-header">Queue empty</div>', render.empty_html(), "", "", "", "", "", [],
                    left, render.message_html(message, kind), kind=kind)
    item = disguised(app, app.item(item_id))
    if item.error and item.status == "review":
        # A decision a worker could not apply (a regenerate whose model failed) came back: say so with the line.
        message, kind = f"{message} Item #{item.id}: {item.error}".strip(), "error"
    note = render.message_html(message, kind)
    route = app.policy.route
    cats: list[str] = sorted({f.category for f in item.findings}, key=CATEGORIES.index)
    return View(
        item_id=item.id, header=render.header_html(item, route.max_regenerate_rounds),
        draft=render.draft_html(item.draft, item.findings, item.id),
        confidence=render.confidence_html(item.confidence, route.confidence_threshold),
        findings=render.findings_html(item.findings, item.draft), record=render.record_html(item),
        line=item.draft or "", check=render.check_html(f for f in item.findings if f.source == "rule"),
        categories=cats, left=left, message=note, audit=item.audit_pending, kind=kind, version=item.checkpoint_id,
    )


def disguised(app: Firstpass, item: Item) -> Item:
    """A check line shown like any other item: in the newest real run, not in the run that holds check lines."""
    if item.run != CANARY_RUN:
        return item
    runs = app.store.runs()
    return item.model_copy(update={"run": runs[0] if runs else "demo"})


def open_next(app: Firstpass, reviewer: str, session: Session, run: str | None = None, category: str | None = None,
              message: str = "", kind: str = "info", lease: float = LEASE_SECONDS) -> tuple[Session, View]:
    """Lease the next item for this reviewer (their own live lease first, or now and then a check line) and show it."""
    item_id = app.next_canary(reviewer, lease)
    if item_id is None:
        item_id = reviewqueue.claim_next(app.store, reviewer, lease, run, category, exclude=session.skipped)
    if item_id is None and session.skipped:
        # Only skipped items remain: offer them again rather than claim the queue is empty.
        item_id = reviewqueue.claim_next(app.store, reviewer, lease, run, category)
        session = replace(session, skipped=())
        if item_id is not None:
            message = (message + " " if message else "") + "Only skipped items are left; showing them again."
    same = item_id is not None and item_id == session.item_id
    opened = session.opened_at if same else time.time()
    view = item_view(app, reviewer, item_id, run, category, message, kind)
    session = Session(item_id=item_id, opened_at=opened, skipped=session.skipped, version=view.version)
    return session, view


def _decision(item: Item, reviewer: str, action: str, line: str, categories: list[str], note: str,
              duration_ms: float | None, version: str | None = None) -> Decision:
    # "edit_anyway" is the explicit second key that approves an edit the rules still flag (policy permitting).
    force = action == "edit_anyway"
    action = "edit" if force else action
    if action == "edit" and not force and line.strip() == (item.draft or "").strip():
        action = "approve"  # an "edit" that changed nothing is an approval, not an override to learn from
    return Decision(
        action=action, reviewer=reviewer, line=line.strip() if action == "edit" else None,
        categories=list(categories) if action == "reject" else [],
        note=note.strip() if action in ("reject", "regenerate") else "",
        # The reviewer saw what the rules still say about the edited line before saving it.
        force=force, duration_ms=duration_ms, version=version,
    )


def _done_message(before: Item, after: Item, decision: Decision) -> str:
    who = f"item #{before.id}"
    if before.audit_pending:
        verdict = {"approve": "line kept", "edit": "edited line approved", "reject": "line rejected"}[decision.action]
        return f"Audit of {who}: {verdict}."
    if decision.action == "approve":
        return f"Approved {who}."
    if decision.action == "edit":
        return f"Approved the edited line for {who}" + (" over the rules that still fire." if decision.force else ".")
    if decision.action == "reject":
        return f"Rejected {who} ({', '.join(decision.categories)})."
    if after.status == "queued":
        return f"Regenerate of {who} queued: a worker drafts the new line, which comes back here if it is flagged."
    if after.status == "review":
        return f"Regenerated {who}: the new draft was flagged again and is back in the queue."
    return f"Regenerated {who}: the new draft passed the gate ({after.status.replace('_', '-')})."


def decide(app: Firstpass, reviewer: str, session: Session, action: str, line: str = "",
           categories: list[str] | None = None, note: str = "", run: str | None = None, category: str | None = None,
           lease: float = LEASE_SECONDS, logged_in: bool = False) -> tuple[Session, View]:
    """Apply approve / edit / reject / regenerate to the tab's item and show the next one.

    A decision that is incomplete (reject without a category) or refused while the item is still this
    reviewer's to decide keeps the item on screen; one refused because someone else has it moves on.
    """
    if session.item_id is None:
        return open_next(app, reviewer, session, run, category, "There is no item open to decide.", "error", lease)
    item_id = session.item_id
    try:
        item = app.item(item_id)
    except KeyError:
        return open_next(app, reviewer, session, run, category, f"Item #{item_id} no longer exists.", "error", lease)
    duration = (time.time() - session.opened_at) * 1000 if session.opened_at else None
    least = app.policy.panel.min_display_ms
    if duration is not None and duration < least:
        # Too soon to have been read: a double press, or a key meant for the item before. Nothing is decided.
        return session, item_view(app, reviewer, item_id, run, category, f"Ignored: item #{item_id} had been on "
                                  f"screen for {duration:.0f} ms (a decision needs at least {least:.0f} ms).", "info")
    typed = (line or "").strip()
    current = session.version is None or session.version == item.checkpoint_id  # else: stale, refused below
    if action == "approve" and current and typed and typed != (item.draft or "").strip():
        # Approving would drop the edit in the box without a word: the reviewer says what they want instead.
        return session, item_view(app, reviewer, item_id, run, category, "You have an unsaved edit: save it (Enter "
                                  "in the edit box), approve it anyway (Shift+Enter), or discard it (Esc twice in the "
                                  "edit box), then decide.", "error")
    try:
        decision = _decision(item, reviewer, action, line or "", categories or [], note or "", duration,
                             session.version).model_copy(update={"identity": "login" if logged_in else "self-asserted"})
    except ValidationError as exc:
        text = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        return session, item_view(app, reviewer, item_id, run, category, text.capitalize() + ".", "error")
    if item.run == CANARY_RUN:
        return _decide_check_line(app, reviewer, session, item, decision, run, category, lease)
    try:
        after = app.audit(item_id, decision) if item.audit_pending else app.decide(item_id, decision)
    except Exception as exc:  # noqa: BLE001 - a reviewer sees why, and nothing was applied
        if not isinstance(exc, DecisionError):
            log.exception("decision on item %s failed", item_id)
        text = str(exc) if isinstance(exc, DecisionError) else f"Could not apply the decision: {type(exc).__name__}: {exc}"
        if reviewqueue.claim(app.store, item_id, reviewer, lease):
            # Show the item as it is now: the next decision is about what is on screen from here on.
            view = item_view(app, reviewer, item_id, run, category, text, "error")
            return replace(session, version=view.version), view
        return open_next(app, reviewer, session, run, category, text, "error", lease)
    if decision.action == "edit" and after.status == "review":
        # Refused: the rules still fire on the edit. It stays on screen; an explicit second key approves it anyway.
        codes = ", ".join(sorted({f.code for f in after.findings if f.source == "rule"}))
        reviewqueue.claim(app.store, item_id, reviewer, lease)
        text = (f"Rules still fire on your edit ({codes}), so it was not approved. Change it, or press Shift+Enter "
                "in the edit box to approve it anyway (the audit log records the override).")
        view = item_view(app, reviewer, item_id, run, category, text, "error")
        return replace(session, version=view.version), view
    return open_next(app, reviewer, session, run, category, _done_message(item, after, decision), "ok", lease)


def _decide_check_line(app: Firstpass, reviewer: str, session: Session, item: Item, decision: Decision,
                       run: str | None, category: str | None, lease: float) -> tuple[Session, View]:
    """Score the decision on a check line and tell the reviewer at once; then the next item."""
    try:
        told = app.decide_canary(item, decision)
    except DecisionError as exc:
        return open_next(app, reviewer, session, run, category, str(exc), "error", lease)
    return open_next(app, reviewer, session, run, category, told, "ok" if decision.action != "approve" else "error",
                     lease)


def recent(app: Firstpass, reviewer: str) -> list[tuple[str, int]]:
    """The reviewer's decisions that may still be taken back, newest first, as (label, item id) choices."""
    since = time.time() - app.policy.panel.undo_minutes * 60
    return [(f"#{item_id} {row.action} {time.strftime('%H:%M', time.localtime(row.at))}: "
             f"{(row.final_line or row.original_line or '')[:60]}", item_id)
            for item_id, row in app.store.recent_decisions(reviewer, since)]


def undo_last(app: Firstpass, reviewer: str, session: Session, run: str | None = None, category: str | None = None,
              lease: float = LEASE_SECONDS, logged_in: bool = False) -> tuple[Session, View]:
    """Take back the reviewer's newest decision (within the policy's window) and show that item again."""
    since = time.time() - app.policy.panel.undo_minutes * 60
    item_id = app.store.last_decision_by(reviewer, since)
    if item_id is None:
        return session, item_view(app, reviewer, session.item_id, run, category,
                                  f"Nothing to undo: you made no decision in the last "
                                  f"{app.policy.panel.undo_minutes:g} minutes.", "error")
    return reopen(app, reviewer, session, item_id, run, category, logged_in)


def reopen(app: Firstpass, reviewer: str, session: Session, item_id: int, run: str | None = None,
           category: str | None = None, logged_in: bool = False) -> tuple[Session, View]:
    """Take back the reviewer's decision on one item and show that item again."""
    try:
        app.undo(item_id, reviewer, identity="login" if logged_in else "self-asserted")
    except DecisionError as exc:
        return session, item_view(app, reviewer, session.item_id, run, category, str(exc), "error")
    if session.item_id is not None and session.item_id != item_id:
        reviewqueue.release(app.store, session.item_id, reviewer)
    view = item_view(app, reviewer, item_id, run, category, f"Undid your decision on item #{item_id}: decide it "
                     "again.", "ok")
    return Session(item_id=item_id, opened_at=time.time(), skipped=session.skipped, version=view.version), view


def with_suggested(app: Firstpass, session: Session, chosen: list[str]) -> list[str]:
    """The reject categories chosen so far, plus those of the findings on the tab's item, in taxonomy order."""
    if session.item_id is None:
        return chosen
    try:
        found = {f.category for f in app.item(session.item_id).findings}
    except KeyError:
        return chosen
    return sorted(set(chosen) | found, key=CATEGORIES.index)


def skip(app: Firstpass, reviewer: str, session: Session, run: str | None = None, category: str | None = None,
         lease: float = LEASE_SECONDS) -> tuple[Session, View]:
    """Put the tab's item back for anyone (this tab sees it again only when nothing else is left)."""
    message = ""
    if session.item_id is not None:
        reviewqueue.release(app.store, session.item_id, reviewer)
        message = f"Skipped item #{session.item_id}."
        session = replace(session, skipped=(*session.skipped, session.item_id))
    return open_next(app, reviewer, session, run, category, message, "info", lease)


def change_filter(app: Firstpass, reviewer: str, session: Session, run: str | None = None,
                  category: str | None = None, lease: float = LEASE_SECONDS) -> tuple[Session, View]:
    """Drop the tab's item and open the next one under a new run / category filter."""
    release(app, reviewer, session)
    return open_next(app, reviewer, Session(), run, category, lease=lease)


def release(app: Firstpass, reviewer: str, session: Session) -> None:
    """Give up the tab's lease (the tab closed, or its filter changed)."""
    if session.item_id is not None:
        reviewqueue.release(app.store, session.item_id, reviewer)


def check_line(app: Firstpass, item_id: int | None, line: str) -> str:
    """The rules' findings on an edited line, as HTML."""
    if item_id is None:
        return ""
    try:
        item = app.item(item_id)
    except KeyError:
        return ""
    edited = (line or "").strip()
    return (render.check_html(edit_rules(edited, item.prospect, app.context))
            + render.diff_html(item.ai_line or item.draft or "", edited))


def runs(app: Firstpass) -> list[str]:
    """Every run's name, newest first."""
    return app.store.runs()


def export(app: Firstpass, run: str | None, out_dir: Path | None = None) -> tuple[str | None, str]:
    """Write a run's approved lines to a CSV file; its path (None on error) and a message."""
    if not run:
        return None, render.message_html("Choose a run to export.", "error")
    folder = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="firstpass-export-"))
    name = re.sub(r"[^\w.-]+", "_", run).strip("._") or "run"
    try:
        counts = export_run(app.store, run, folder / f"{name}-approved.csv")
    except ExportError as exc:
        return None, render.message_html(str(exc), "error")
    text = (f"Exported {counts.approved} approved line(s) from run {run}; left out {counts.rejected} rejected"
            f" and {counts.undecided} not yet decided.")
    return str(counts.path), render.message_html(text, "ok")


def eval_runs(app: Firstpass, limit: int = 20) -> tuple[list[tuple[str, int]], str]:
    """The finished eval runs, newest first: dropdown choices and a table of their headline figures."""
    finished = app.store.eval_runs.runs(limit=limit, finished_only=True)
    rows = [(r["id"], r["finished_at"], history_row(r)) for r in finished]
    choices = [(f"#{i} {row['candidate'][0]} vs {row['baseline'][0]}: {row['verdict']}", i) for i, _at, row in rows]
    return choices, render.eval_runs_html(rows)


def eval_report(app: Firstpass, run_id: int | None) -> str:
    """The chosen eval run's HTML report (the newest when none is chosen), framed so that it runs nothing."""
    run = app.store.eval_runs.run(int(run_id)) if run_id else next(
        iter(app.store.eval_runs.runs(limit=1, finished_only=True)), None)
    if run is None or run["report"] is None:
        return render.message_html("No finished eval run yet: run `firstpass eval run --drafter-prompt VERSION`.")
    return render.report_frame_html(render_html(run["report"]))


@dataclass(frozen=True)
class MetricsView:
    """The Metrics tab: headline figures as HTML, and the rows its plots draw (plain dicts)."""

    summary: str
    tables: str
    volume: list[dict[str, object]]
    errors: list[dict[str, object]]
    curve: list[dict[str, object]]
    calibration: str


def metrics_view(app: Firstpass, run: str | None = None) -> MetricsView:
    """Every figure of `firstpass stats` and the calibration trade-off for the app's configuration."""
    figures = metrics.collect(app.store, app.policy, run)
    volume = [{"day": d["day"], "route": route, "lines": d[route]} for d in figures["volume"]["per_day"][-30:]
              for route in ("auto", "review")]
    errors = [{"week": w["week"], "series": name, "percent": 100 * (w[key] or 0.0)}
              for w in figures["sent_error"]["by_week"][-12:] for name, key in (("error", "rate"), ("95% upper", "high"))]
    route = app.policy.route
    certificate, others = calibrate.run(app.store, calibrate.config_of(app.context), app.policy,
                                        route.accepted_error_rate, CALIBRATION_DELTA)
    report = calibrate.report(certificate, calibrate.config_of(app.context), others)
    curve = [{"threshold": s["threshold"], "series": name, "percent": 100 * (s[key] or 0.0)}
             for s in report["curve"] for name, key in (("auto-approved", "auto_rate"), ("miss rate", "miss_rate"),
                                                         ("miss bound", "upper"))]
    return MetricsView(render.metrics_headline_html(figures), render.metrics_tables_html(figures), volume, errors, curve,
                       render.calibration_html(report))
