"""The Gradio review panel: the wiring of ui.handlers to components, login, and the keyboard shortcuts.

Build it with `build_panel(app)` around a Firstpass app, start it with `launch_panel(...)`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, cast

import gradio as gr
from starlette.middleware import Middleware

from critics.findings import CATEGORIES
from critics.policy import PanelPolicy
from firstpass import accounts
from firstpass.db import Store
from firstpass.service import Firstpass
from ui import handlers, render
from ui.assets import CSS, KEYS_JS, LIVE_CHECK_JS
from ui.guard import Guard, GuardMiddleware, allowed_hosts
from ui.handlers import LEASE_SECONDS, Session, View
from ui.render import esc

ALL_RUNS = "All runs"
ALL_CATEGORIES = "All categories"
# Enough parallel events for a team of reviewers; a regenerate on a slow model must not hold up the others.
CONCURRENCY = 16

KEYS_HELP = ('<div class="fp-keys"><kbd>a</kbd> approve · <kbd>e</kbd> edit, <kbd>Enter</kbd> saves · '
             '<kbd>r</kbd> reject, <kbd>Enter</kbd> confirms · <kbd>g</kbd> regenerate with feedback, '
             '<kbd>Enter</kbd> sends · <kbd>s</kbd> skip · <kbd>u</kbd> undo your last decision · '
             '<kbd>Esc</kbd> leaves a text box · <kbd>?</kbd> lists every key</div>')


def is_loopback(host: str) -> bool:
    """Whether a host name or address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_auth(store: Store) -> Callable[[str, str], Awaitable[bool]]:
    """Gradio's login check, backed by the reviewer accounts; scrypt runs off the event loop."""

    async def check(name: str, password: str) -> bool:
        return await asyncio.to_thread(accounts.verify, store, name, password)

    return check


def _filter(value: str | None, everything: str) -> str | None:
    return None if not value or value == everything else value


def build_panel(app: Firstpass, reviewer: str = "reviewer", run: str | None = None,
                lease: float = LEASE_SECONDS) -> gr.Blocks:
    """The panel's Blocks over `app`; `reviewer` names the decider only when nobody is logged in (--no-auth)."""
    held: dict[str, tuple[str, int]] = {}  # browser session -> (reviewer, item it holds), to free it on close

    def who(request: gr.Request) -> str:
        name = request.username if request is not None else None
        if not name:
            # --no-auth: nobody logs in, so each browser tab is a reviewer of its own for the claims, and two tabs
            # never hold the same item. The audit log names the tab under the panel's reviewer name.
            tab = getattr(request, "session_hash", None) or ""
            return f"{reviewer}@tab-{tab[:6]}" if tab else reviewer
        # Gradio keeps login tokens in memory: a reviewer removed since logging in must not decide anything.
        if not accounts.exists(app.store, name):
            raise gr.Error(f"There is no reviewer account {name!r} any more; ask an admin to add it again.")
        return name

    def track(request: gr.Request, name: str, session: Session) -> None:
        key = getattr(request, "session_hash", None)
        if key is None:
            return
        if session.item_id is None:
            held.pop(key, None)
        else:
            held[key] = (name, session.item_id)

    def shown(before: Session, after: Session, view: View, request: gr.Request, name: str) -> list[Any]:
        track(request, name, after)
        # The inputs keep what the reviewer typed when the same item stays on screen (say, a reject with no
        # category); a new item starts from its own draft and findings.
        same = before.item_id is not None and after.item_id == before.item_id
        # A new item, a done decision, or the same item showing a new line (it changed under the tab) starts afresh.
        fresh = not same or view.kind == "ok" or before.version != after.version
        keep = gr.skip()
        # An audit sample's thread has finished: there is nothing to regenerate.
        can_regenerate = not view.audit
        regen_box = gr.update(value="", interactive=can_regenerate) if fresh else gr.update(interactive=can_regenerate)
        return [after, view.header, view.draft, view.confidence, view.findings, view.record,
                view.line if fresh else keep, view.check if fresh else keep,
                # The categories start empty, so that an eval case records what the human chose; the findings'
                # categories are offered as suggestions that one key (c) accepts.
                [] if fresh else keep, "" if fresh else keep, regen_box,
                view.left, view.message, gr.update(interactive=can_regenerate),
                render.suggestions_html(view.categories) if fresh else keep]

    def on_load(session: Session, run_value: str, category_value: str, request: gr.Request) -> list[Any]:
        name = who(request)
        after, view = handlers.open_next(app, name, session, _filter(run_value, ALL_RUNS),
                                         _filter(category_value, ALL_CATEGORIES), lease=lease)
        names = handlers.runs(app)
        logout = ' · <a href="logout">log out</a>' if request is not None and request.username else ""
        return [*shown(session, after, view, request, name), gr.update(choices=[ALL_RUNS, *names]),
                gr.update(choices=names, value=names[0] if names else None),
                f'<div class="fp-who">Reviewing as <b>{esc(name)}</b>{logout}</div>']

    def acting(action: str) -> Callable[..., list[Any]]:
        def act(session: Session, line: str, cats: list[str], reject_note: str, regen_note: str, run_value: str,
                category_value: str, request: gr.Request) -> list[Any]:
            name = who(request)
            note = reject_note if action == "reject" else regen_note
            after, view = handlers.decide(app, name, session, action, line=line, categories=cats, note=note,
                                          run=_filter(run_value, ALL_RUNS),
                                          category=_filter(category_value, ALL_CATEGORIES), lease=lease,
                                          logged_in=bool(request is not None and request.username))
            return shown(session, after, view, request, name)

        return act

    def on_undo(session: Session, run_value: str, category_value: str, request: gr.Request) -> list[Any]:
        name = who(request)
        after, view = handlers.undo_last(app, name, session, _filter(run_value, ALL_RUNS),
                                         _filter(category_value, ALL_CATEGORIES), lease=lease,
                                         logged_in=bool(request is not None and request.username))
        return shown(session, after, view, request, name)

    def on_suggest(session: Session, chosen: list[str] | None, request: gr.Request) -> list[str]:
        who(request)
        return handlers.with_suggested(app, session, chosen or [])

    def on_recent(request: gr.Request) -> Any:
        return gr.update(choices=handlers.recent(app, who(request)), value=None)

    def on_reopen(session: Session, chosen: int | None, run_value: str, category_value: str,
                  request: gr.Request) -> list[Any]:
        name = who(request)
        if not chosen:
            after, view = session, handlers.item_view(app, name, session.item_id, _filter(run_value, ALL_RUNS),
                                                      _filter(category_value, ALL_CATEGORIES),
                                                      "Choose one of your recent decisions first.", "error")
        else:
            after, view = handlers.reopen(app, name, session, int(chosen), _filter(run_value, ALL_RUNS),
                                          _filter(category_value, ALL_CATEGORIES),
                                          logged_in=bool(request is not None and request.username))
        return shown(session, after, view, request, name)

    def on_skip(session: Session, run_value: str, category_value: str, request: gr.Request) -> list[Any]:
        name = who(request)
        after, view = handlers.skip(app, name, session, _filter(run_value, ALL_RUNS),
                                    _filter(category_value, ALL_CATEGORIES), lease=lease)
        return shown(session, after, view, request, name)

    def on_refresh(session: Session, run_value: str, category_value: str, request: gr.Request) -> list[Any]:
        name = who(request)
        after, view = handlers.open_next(app, name, replace(session, skipped=()), _filter(run_value, ALL_RUNS),
                                         _filter(category_value, ALL_CATEGORIES), lease=lease)
        return shown(session, after, view, request, name)

    def on_filter(session: Session, run_value: str, category_value: str, request: gr.Request) -> list[Any]:
        name = who(request)
        after, view = handlers.change_filter(app, name, session, _filter(run_value, ALL_RUNS),
                                             _filter(category_value, ALL_CATEGORIES), lease=lease)
        return shown(Session(), after, view, request, name)

    def check_edit(args: dict[str, Any]) -> str:
        # Called from the check panel's script (see LIVE_CHECK_JS) with the item on screen and the box's text.
        try:
            item_id = int(args.get("item_id") or 0) or None
        except (TypeError, ValueError, AttributeError):
            return ""
        return handlers.check_line(app, item_id, str(args.get("line") or ""))

    def on_export(run_value: str | None, request: gr.Request) -> list[Any]:
        who(request)
        path, message = handlers.export(app, run_value)
        return [path, message]

    def on_evals(request: gr.Request) -> list[Any]:
        who(request)
        choices, table = handlers.eval_runs(app)
        newest = choices[0][1] if choices else None
        return [gr.update(choices=choices, value=newest), table, handlers.eval_report(app, newest)]

    def on_eval_report(run_id: int | None, request: gr.Request) -> str:
        who(request)
        return handlers.eval_report(app, run_id)

    def on_metrics(request: gr.Request) -> list[Any]:
        who(request)
        view = handlers.metrics_view(app)
        return [view.summary, _frame(view.volume, ["day", "route", "lines"]),
                _frame(view.errors, ["week", "series", "percent"]), view.tables,
                _frame(view.curve, ["threshold", "series", "percent"]), view.calibration]

    def on_unload(request: gr.Request) -> None:
        entry = held.pop(getattr(request, "session_hash", None) or "", None)
        if entry is not None:
            handlers.release(app, entry[0], Session(item_id=entry[1]))

    with gr.Blocks(title="firstpass review", analytics_enabled=False) as blocks:
        session = gr.State(Session())
        with gr.Tabs(elem_id="fp-tabs"):
            with gr.Tab("Review", id="review", elem_id="fp-review-tab"):
                with gr.Row(equal_height=True):
                    gr.HTML('<h2 style="margin:0;white-space:nowrap">firstpass review</h2>', js_on_load=None, scale=0)
                    who_html = gr.HTML(elem_id="fp-who", js_on_load=None, scale=1)
                    left = gr.HTML(elem_id="fp-left", js_on_load=None, scale=1)
                    known = handlers.runs(app)
                    run_dd = gr.Dropdown([ALL_RUNS, *known], value=run if run in known else ALL_RUNS, label="Run",
                                         elem_id="fp-run", scale=1)
                    cat_dd = gr.Dropdown([ALL_CATEGORIES, *CATEGORIES], value=ALL_CATEGORIES, label="Category",
                                         elem_id="fp-category", scale=1)
                    refresh = gr.Button("Check for new items", elem_id="fp-refresh", size="sm", scale=0, min_width=120)
                with gr.Row():
                    with gr.Column(scale=3):
                        header = gr.HTML(elem_id="fp-header", js_on_load=None)
                        draft = gr.HTML(elem_id="fp-draft", js_on_load=None)
                        confidence = gr.HTML(elem_id="fp-confidence", js_on_load=None)
                        message = gr.HTML(elem_id="fp-message", js_on_load=None)
                        with gr.Row():
                            approve = gr.Button("Approve [a]", variant="primary", elem_id="fp-approve", min_width=90)
                            save = gr.Button("Save edit [e]", elem_id="fp-save-edit", min_width=90)
                            anyway = gr.Button("Approve edit anyway [Shift+Enter]", elem_id="fp-edit-anyway", min_width=90,
                                               size="sm")
                            reject = gr.Button("Reject [r]", variant="stop", elem_id="fp-reject", min_width=90)
                            regen = gr.Button("Regenerate [g]", elem_id="fp-regenerate", min_width=90)
                            skip = gr.Button("Skip [s]", elem_id="fp-skip", min_width=90)
                            undo = gr.Button("Undo [u]", elem_id="fp-undo", min_width=90, size="sm")
                        gr.HTML(KEYS_HELP, js_on_load=None, elem_id="fp-keys-help")
                        with gr.Group(elem_id="fp-edit-group"):
                            edit_box = gr.Textbox(label="Edit the line (Enter saves and approves it)", elem_id="fp-edit",
                                                  lines=2, max_lines=4)
                            check = gr.HTML(elem_id="fp-check", js_on_load=LIVE_CHECK_JS, padding=True,
                                            server_functions=[check_edit])
                        with gr.Row():
                            with gr.Group(elem_id="fp-reject-group"):
                                reject_cats = gr.CheckboxGroup(list(CATEGORIES), label="Reject: categories",
                                                               elem_id="fp-reject-cats")
                                with gr.Row():
                                    suggested = gr.HTML(elem_id="fp-suggested", js_on_load=None, scale=3)
                                    use_suggested = gr.Button("Use suggested [c]", elem_id="fp-use-suggested", size="sm",
                                                              scale=1, min_width=80)
                                reject_note = gr.Textbox(label="Reject note, optional (Enter rejects)",
                                                         elem_id="fp-reject-note", lines=1, max_lines=1)
                            regen_note = gr.Textbox(label="Feedback for the drafter (Enter regenerates)",
                                                    elem_id="fp-regen-note", lines=1, max_lines=1)
                    with gr.Column(scale=2):
                        gr.HTML("<h3 style='margin:0'>Findings</h3>", js_on_load=None)
                        findings = gr.HTML(elem_id="fp-findings", js_on_load=None)
                        gr.HTML("<h3 style='margin:0'>Prospect record</h3>", js_on_load=None)
                        record = gr.HTML(elem_id="fp-record", js_on_load=None)
                        with gr.Accordion("Your recent decisions", open=False, elem_id="fp-recent-panel") as recent_panel:
                            recent_dd = gr.Dropdown([], label="Decisions you can still take back", elem_id="fp-recent")
                            reopen_btn = gr.Button("Reopen (undo) this decision", elem_id="fp-reopen", size="sm")
                        with gr.Accordion("Export approved lines", open=False, elem_id="fp-export-panel"):
                            export_run = gr.Dropdown([], label="Run to export", elem_id="fp-export-run")
                            export_btn = gr.Button("Export CSV", elem_id="fp-export")
                            export_file = gr.File(label="Approved lines (CSV)", elem_id="fp-export-file", interactive=False)
                            export_msg = gr.HTML(elem_id="fp-export-msg", js_on_load=None)
            with gr.Tab("Evals", id="evals", elem_id="fp-evals-tab") as evals_tab:
                gr.HTML("<p style='margin:0'>Eval runs of the drafter and critic prompts (newest first); a run's"
                        " report opens below. Run them with <code>firstpass eval run</code>.</p>", js_on_load=None)
                eval_table = gr.HTML(elem_id="fp-eval-runs", js_on_load=None)
                eval_dd = gr.Dropdown([], label="Report of run", elem_id="fp-eval-run")
                eval_frame = gr.HTML(elem_id="fp-eval-frame", js_on_load=None)

            with gr.Tab("Metrics", id="metrics", elem_id="fp-metrics-tab") as metrics_tab:
                metrics_summary = gr.HTML(elem_id="fp-metrics", js_on_load=None)
                with gr.Row():
                    volume_plot = gr.BarPlot(x="day", y="lines", color="route", title="Lines gated per day",
                                             y_title="lines", elem_id="fp-volume-plot",
                                             color_map={"auto": "#1a7f37", "review": "#bf8700"})
                    error_plot = gr.LinePlot(x="week", y="percent", color="series", title="Error on sent lines (audits)",
                                             y_title="% changed by a human", elem_id="fp-error-plot")
                metrics_tables = gr.HTML(elem_id="fp-metrics-tables", js_on_load=None)
                curve_plot = gr.LinePlot(x="threshold", y="percent", color="series", elem_id="fp-curve-plot",
                                         title="Calibration trade-off: auto-approve rate and miss rate by threshold")
                calibration_note = gr.HTML(elem_id="fp-calibration-note", js_on_load=None)

        outputs = [session, header, draft, confidence, findings, record, edit_box, check, reject_cats, reject_note,
                   regen_note, left, message, regen, suggested]
        filters = [run_dd, cat_dd]
        decision_inputs = [session, edit_box, reject_cats, reject_note, regen_note, *filters]
        fast: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
        blocks.load(on_load, [session, *filters], [*outputs, run_dd, export_run, who_html], **fast)
        approve.click(acting("approve"), decision_inputs, outputs, **fast)
        for trigger in (save.click, edit_box.submit):
            trigger(acting("edit"), decision_inputs, outputs, **fast)
        anyway.click(acting("edit_anyway"), decision_inputs, outputs, **fast)
        for trigger in (reject.click, reject_note.submit):
            trigger(acting("reject"), decision_inputs, outputs, **fast)
        for trigger in (regen.click, regen_note.submit):
            trigger(acting("regenerate"), decision_inputs, outputs, show_progress="minimal", api_visibility="private")
        skip.click(on_skip, [session, *filters], outputs, **fast)
        use_suggested.click(on_suggest, [session, reject_cats], reject_cats, **fast)
        recent_panel.expand(on_recent, None, recent_dd, **fast)
        reopen_btn.click(on_reopen, [session, recent_dd, *filters], outputs, **fast)
        undo.click(on_undo, [session, *filters], outputs, **fast)
        refresh.click(on_refresh, [session, *filters], outputs, **fast)
        run_dd.input(on_filter, [session, *filters], outputs, **fast)
        cat_dd.input(on_filter, [session, *filters], outputs, **fast)
        export_btn.click(on_export, export_run, [export_file, export_msg], api_visibility="private")
        evals_tab.select(on_evals, None, [eval_dd, eval_table, eval_frame], **fast)
        eval_dd.input(on_eval_report, eval_dd, eval_frame, **fast)
        metrics_tab.select(on_metrics, None, [metrics_summary, volume_plot, error_plot, metrics_tables, curve_plot,
                                              calibration_note], **fast)
        blocks.unload(on_unload)
    blocks.queue(default_concurrency_limit=CONCURRENCY)
    return blocks


def _frame(rows: list[dict[str, object]], columns: list[str]) -> Any:
    """Rows as the DataFrame Gradio's plots take (with the columns even when there are no rows)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def launch_panel(blocks: gr.Blocks, store: Store, host: str = "127.0.0.1", port: int | None = 7860,
                 auth: bool = True, block: bool = True, quiet: bool = False, extra_hosts: Iterable[str] = (),
                 policy: PanelPolicy | None = None) -> str:
    """Start the panel's server and return its URL; without `auth` only a loopback host is allowed.

    The panel answers only requests addressed to it (its own address, plus `extra_hosts` for a proxy), limits
    wrong passwords and ends stale sessions (see ui.guard).
    """
    if not auth and not is_loopback(host):
        raise ValueError(f"--no-auth is allowed only on a loopback address (127.0.0.1, ::1, localhost), not {host}")
    guard = Guard(store, policy or PanelPolicy(), allowed_hosts(host, port or 0, extra_hosts))
    # Gradio awaits a coroutine auth function (gradio/routes.py), though its annotation names only plain ones.
    check = cast(Callable[[str, str], bool], make_auth(store)) if auth else None
    _, url, _ = blocks.launch(
        server_name=host, server_port=port, auth=check,
        auth_message="Log in with your firstpass reviewer account (firstpass reviewer add NAME).",
        prevent_thread_lock=not block, quiet=quiet, js=KEYS_JS, css=CSS, footer_links=[], show_error=False,
        enable_monitoring=False, run_history=False, mcp_server=False, ssr_mode=False,
        app_kwargs={"middleware": [Middleware(GuardMiddleware, guard=guard)]},
    )
    return url
