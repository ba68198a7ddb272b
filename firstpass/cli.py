"""The `firstpass` command line."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from critics.context import ColumnPlan, find_sensitive
from critics.findings import CATEGORIES
from critics.policy import PolicyError, load_policy
from evals.gate import CasesError
from firstpass.csvfile import CsvError, CsvOptions, scan_prospects, stream_prospects
from firstpass.db import STATUSES, AuditLogError, DatabaseNotReadyError, Item
from firstpass.evalcli import add_parser as add_eval_parser
from firstpass.settings import SettingsError, load_settings
from firstpass.statscli import add_parsers as add_stats_parsers
from firstpass.terminal import complain, escape, one_line, say
from firstpass.workcli import add_parsers as add_work_parsers
from prompts.loader import PromptError, PromptTemplate

EXIT_USAGE = 2


# Everything that reaches the terminal goes through these two: escaped, never obeyed.
_err, _out = complain, say


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on some containers
        return "unknown"


# run --------------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    """Load a prospect CSV and take every row through the gate."""
    from firstpass.batch import run_batch, todo
    from firstpass.session import open_app, open_models

    settings = load_settings()
    policy = _policy(args)
    context = (policy or load_policy(settings.policy_file)).context
    options = CsvOptions(columns=_column_choices(args.column or []), skip_bad_rows=args.skip_bad_rows,
                         context=context, context_columns=_context_choices(getattr(args, "context_columns", None)))
    loaded = scan_prospects(args.csv, options)
    for warning in loaded.warnings:
        _err(f"warning: {warning}")
    if loaded.bad and not options.skip_bad_rows:
        for bad in loaded.bad[:20]:
            _err(f"bad row {bad.row}: {bad.reason}")
        more = f" (and {len(loaded.bad) - 20} more)" if len(loaded.bad) > 20 else ""
        _err(f"{len(loaded.bad)} malformed row(s){more}: nothing was loaded. Fix the file, or run again with "
             "--skip-bad-rows to leave them out")
        return EXIT_USAGE
    for skip in loaded.skipped:
        _err(f"skipped row {skip.row}: {skip.reason}")
    for dup in loaded.duplicates:
        _err(f"skipped row {dup.row}: {dup.reason}")
    if loaded.delimiter != ",":
        _err(f"read as {'tab' if loaded.delimiter == chr(9) else repr(loaded.delimiter)}-separated values")
    _err_block(columns_block(loaded.plan))
    run = args.run or Path(args.csv).stem
    if getattr(args, "enqueue", False):
        return _enqueue(args, run, loaded.headers, options)
    if getattr(args, "follow", False):
        _err("--follow goes with --enqueue: it follows the workers' progress on the run")
        return EXIT_USAGE
    with open_models(settings) as models, open_app(settings, models, policy=policy) as app:
        app.store.ensure_run(run, source=str(Path(args.csv).resolve()), headers=loaded.headers)
        new = app.store.add_items(run, ((r.row, r.original, r.prospect) for r in stream_prospects(args.csv, options)))
        items = todo(app, run, args.limit)
        _err(f"run {run!r}: {loaded.count} prospects ({new} new), {len(items)} to process")
        summary = run_batch(app, items, args.concurrency, on_done=_progress(len(items)))
        counts = app.store.counts(run)
    _out(f"\nrun {run!r}: processed {summary.processed} in {summary.seconds:.1f} s")
    _out(f"  drafted        {summary.drafted}")
    _out(f"  auto-approved  {summary.auto_approved} ({summary.audit_sampled} sampled for audit)")
    _out(f"  for review     {summary.review}")
    _out(f"  failed         {summary.failed}")
    for reason, n in summary.failures.most_common():
        _out(f"    {n} x {reason}")
    if loaded.skipped or loaded.duplicates:
        _out(f"  skipped rows   {len(loaded.skipped)} (empty or malformed), {len(loaded.duplicates)} duplicates")
    _out("  whole run: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if summary.interrupted:
        _out(f"\ninterrupted: run the same command again to continue run {run!r}")
        return 130
    if counts.get("review"):
        _out(f"\nreview in the panel: firstpass review --run {run}   (first: firstpass reviewer add NAME,"
              " or --no-auth on this machine)")
        _out(f"or here: firstpass items --run {run} --status review; firstpass decide ITEM approve|edit|reject|regenerate")
    if summary.held_elsewhere:
        _out(f"  {summary.held_elsewhere} item(s) were being processed by another process and were left to it")
    if summary.failed:
        _out("failed items are retried when you run the same command again")
    return 0


def _enqueue(args: argparse.Namespace, run: str, headers: list[str], options: CsvOptions) -> int:
    """Load the rows and queue one job per item for the workers (PostgreSQL); no model runs here."""
    from firstpass.workcli import enqueue_run

    store = _open_store()
    try:
        if not store.postgres:
            return enqueue_run(store, run, False)
        store.ensure_run(run, source=str(Path(args.csv).resolve()), headers=headers)
        new = store.add_items(run, ((r.row, r.original, r.prospect) for r in stream_prospects(args.csv, options)))
        _err(f"run {run!r}: {new} new prospect(s) loaded")
        return enqueue_run(store, run, args.follow)
    finally:
        store.close()


def _column_choices(pairs: list[str]) -> dict[str, str]:
    """`--column field=Header` choices as a mapping; a malformed one is a CsvError naming it."""
    choices = {}
    for pair in pairs:
        fieldname, sep, header = pair.partition("=")
        if not sep or not fieldname.strip() or not header.strip():
            raise CsvError(f"--column {pair!r}: write it as field=Header, e.g. --column company=\"Account Name\"")
        choices[fieldname.strip()] = header.strip()
    return choices


def _context_choices(values: list[str] | None) -> list[str]:
    """`--context-columns A,B` (repeatable) as a list of headers."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _names(headers: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(headers[:most]) or "none"
    return shown + (f" and {len(headers) - most} more" if len(headers) > most else "")


def columns_block(plan: ColumnPlan) -> list[str]:
    """The few lines `run` prints before processing: which columns go to the model, which are named fields, and
    which are kept for the export only."""
    named = [f"{f} ({' / '.join(hs)})" for f, hs in plan.named.items() if f != "id"]
    kept = [*plan.named.get("id", ()), *plan.kept]
    lines = ["what reaches the model:",
             f"  context       {_names(plan.context)}",
             f"  named fields  {_names(named)}",
             f"  kept only     {_names(kept)} (in the export, never sent to a model)"]
    lines += [f"  not sent      {header}: {why}" for header, why in list(plan.why_kept.items())[:5]]
    lines.append("  (add one with --context-columns NAME or the policy's [context] columns; contact data and CRM "
                 "fields never go)")
    return lines


def _err_block(lines: list[str]) -> None:
    _err(lines[0])
    for line in lines[1:]:
        print(escape(line), file=sys.stderr)


def _progress(total: int) -> Any:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="item", file=sys.stderr, disable=total == 0)

    def done(item: Item) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return done


def _policy(args: argparse.Namespace) -> Any:
    from critics.policy import load_policy

    return load_policy(args.policy) if getattr(args, "policy", None) else None


# items, show, decide ---------------------------------------------------------------------------------

def _open_store() -> Any:
    from firstpass.stores import open_store

    return open_store(load_settings())


def cmd_items(args: argparse.Namespace) -> int:
    """List items with their status."""
    store = _open_store()
    if args.run and args.run not in store.runs():
        _err(f"there is no run {args.run!r} (runs: {', '.join(store.runs()) or 'none yet'})")
        return 1
    items = store.items(run=args.run, status=args.status)
    if args.json:
        for item in items:
            print(json.dumps(item.model_dump(mode="json")))  # ASCII-only JSON: nothing for a terminal to obey
        return 0
    if not items:
        _out("no items" + (f" with status {args.status}" if args.status else ""))
        return 0
    _out(f"{'ITEM':>6}  {'RUN':<16} {'STATUS':<13} {'CONF':<9} {'CATEGORIES':<30}  LINE")
    for item in items:
        codes = ",".join(sorted({f.category for f in item.findings})) or "-"
        conf = "-" if item.confidence is None else f"{item.confidence:.2f}"
        line = (item.final_line or item.draft or item.error or "").replace("\n", " ")
        status = "audit" if item.audit_pending else item.status
        _out(f"{item.id:>6}  {item.run:<16.16} {status:<13} {conf:<9} {codes:<30.30}  {line[:90]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show one item in full: record, draft, findings, audit history."""
    store = _open_store()
    try:
        item = store.item(args.item)
    except KeyError:
        _err(f"there is no item {args.item}")
        return 1
    if args.json:
        print(json.dumps(_item_view(item, store), indent=2))  # ASCII-only JSON: nothing for a terminal to obey
        return 0
    _out(_item_text(item, store))
    return 0


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "-"


def _item_text(item: Item, store: Any) -> str:
    status = f"{item.status} (sampled for audit)" if item.audit_pending else item.status
    conf = "none" if item.confidence is None else f"{item.confidence:.2f} (uncalibrated)"
    lines = [f"item {item.id} · run {item.run} · row {item.row} · {status}",
             f"line:      {item.final_line or item.draft or '-'}"]
    if item.error:  # why it failed, or why a decision left on it could not be applied
        lines.append(f"error:     {item.error}")
    if item.ai_line and item.ai_line != (item.final_line or item.draft):
        lines.append(f"AI line:   {item.ai_line}")
    lines += [f"critic:    ready to send, {conf}",
              f"prompt:    {item.prompt_version or '-'} · drafter {item.drafter_model or '-'} · critic "
              f"{item.critic_model or '-'}", "findings:"]
    lines += [f"  - {f.source} {f.code} ({f.severity}): {f.message}" for f in item.findings] or ["  none"]
    lines.append("record:")
    lines += [f"  {k}: {v}" for k, v in (item.original or item.prospect.prompt_fields()).items() if v]
    audit = store.audit_log(item.id)
    lines.append("decisions:" if audit else "decisions: none")
    lines += [f"  {_when(a.at)} {a.reviewer} ({a.identity or 'unknown'}): {a.action} -> {a.status_after}"
              + (f" · {a.note}" if a.note else "") for a in audit]
    return "\n".join(lines)


def _item_view(item: Item, store: Any) -> dict[str, Any]:
    view = item.model_dump(exclude={"original"})
    view["audit"] = [a.model_dump(exclude={"findings"}) for a in store.audit_log(item.id)]
    return view


def cmd_decide(args: argparse.Namespace) -> int:
    """Decide a flagged item: approve, edit, reject or regenerate."""
    from pydantic import ValidationError

    from firstpass import accounts
    from firstpass.service import DecisionError
    from firstpass.session import open_app, open_models
    from graph.human import Decision

    try:
        decision = Decision(action=args.action, reviewer=args.reviewer, line=args.line,
                            categories=args.category or [], note=args.note or "", force=args.force)
    except ValidationError as exc:
        text = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        hint = {"edit needs the edited line": " (pass it with --line \"...\")",
                "reject needs at least one taxonomy category": " (pass --category CODE, repeatable)"}
        _err(text + "".join(v for k, v in hint.items() if k in text))
        return EXIT_USAGE
    settings = load_settings()
    with open_models(settings) as models, open_app(settings, models, policy=_policy(args)) as app:
        # The command line takes the reviewer's word for who they are (the audit row says "self-asserted"); a team
        # that wants more requires a name with a panel account.
        if settings.require_known_reviewer and not accounts.exists(app.store, decision.reviewer):
            _err(f"--reviewer {decision.reviewer!r} has no reviewer account, and FIRSTPASS_REQUIRE_KNOWN_REVIEWER is "
                 f"on: add it with `firstpass reviewer add {decision.reviewer}`, or pass --reviewer NAME")
            return 1
        try:
            # An auto-approved line sampled for audit is decided as an audit: its thread has finished.
            audit = app.item(args.item).audit_pending
        except KeyError:
            _err(f"there is no item {args.item}")
            return 1
        try:
            item = app.audit(args.item, decision) if audit else app.decide(args.item, decision)
        except DecisionError as exc:
            _err(str(exc))
            return 1
    _out(f"item {item.id}: {item.status}" + (" (audit recorded)" if audit else ""))
    if item.status == "review":
        if args.action == "edit":
            _out("rules still fire on the edited line, so it stays in review (add --force to approve it anyway):")
        else:
            _out("the new draft was flagged again:")
        _out(f"  {item.draft}")
        for f in item.findings:
            _out(f"  - [{f.category}] {f.message}")
        if args.action == "edit":
            return 1  # refused: the edit was not approved
    elif item.final_line:
        _out(f"  {item.final_line}")
    return 0


# gate ------------------------------------------------------------------------------------------------

def cmd_gate(args: argparse.Namespace) -> int:
    """Check drafts written elsewhere (JSONL) and print each one's route and findings."""
    from evals.gate import gate_cases, read_cases, score

    cases = read_cases(args.cases)
    settings = load_settings()
    policy = _policy(args)
    if args.rules_only:
        results = gate_cases(cases, policy=policy, critic=None, critic_prompt=None)
    else:
        from firstpass.session import open_models
        from prompts.loader import load_prompt

        with open_models(settings) as models:
            results = gate_cases(cases, policy=policy, critic=models.critic, critic_prompt=load_prompt("critic"),
                                 progress=True)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        for r in results:
            out.write(json.dumps(r) + "\n")
    finally:
        if args.out:
            out.close()
    report = score(cases, results)
    if report:
        _err(report)
    return 0


# demo ------------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    """Run the bundled example prospects on the embedded models and say how to review them."""
    from importlib import resources

    csv_path = Path(str(resources.files("firstpass").joinpath("demo", "prospects.csv")))
    ns = argparse.Namespace(csv=str(csv_path), run=args.run, concurrency=args.concurrency, limit=args.limit,
                            policy=None, skip_bad_rows=False, column=None, context_columns=None)
    return cmd_run(ns)


# review panel, reviewer accounts, export ---------------------------------------------------------------

def cmd_review(args: argparse.Namespace) -> int:
    """Start the Gradio review panel (reviewers log in unless --no-auth on a loopback address)."""
    from firstpass.accounts import has_reviewers
    from firstpass.session import open_app, open_models
    from ui.app import build_panel, is_loopback, launch_panel

    if args.no_auth and not is_loopback(args.host):
        _err(f"--no-auth is allowed only on a loopback address (127.0.0.1, ::1, localhost), not {args.host}")
        return EXIT_USAGE
    if args.lease <= 0:
        _err("--lease must be a positive number of seconds")
        return EXIT_USAGE
    settings = load_settings()
    store = _open_store()
    try:
        if not args.no_auth and not has_reviewers(store):
            _err("no reviewer accounts yet: add one with `firstpass reviewer add NAME` "
                 "(or, on this machine only, start with `firstpass review --no-auth`)")
            return EXIT_USAGE
        if args.run and args.run not in store.runs():
            _err(f"there is no run {args.run!r} (runs: {', '.join(store.runs()) or 'none yet'})")
            return EXIT_USAGE
    finally:
        store.close()
    # The models start lazily: the embedded server comes up on the first regenerate, not before.
    with open_models(settings) as models, open_app(settings, models, policy=_policy(args)) as app:
        panel = build_panel(app, reviewer=args.reviewer, run=args.run, lease=args.lease)
        _err(f"review panel on http://{args.host}:{args.port} (Ctrl-C stops it)")
        if not is_loopback(args.host) and not args.allowed_host:
            _err("it answers only to this machine's own names; add --allowed-host NAME for the name reviewers use"
                 " (a proxy's, for one)")
        try:
            launch_panel(panel, app.store, host=args.host, port=args.port, auth=not args.no_auth, block=True,
                         extra_hosts=args.allowed_host or [], policy=app.policy.panel)
        except OSError as exc:
            _err(f"cannot listen on {args.host}:{args.port}: {exc}")
            return 1
    return 0


def _read_password(name: str) -> str | None:
    if not sys.stdin.isatty():
        # Scripts and tests pipe the password in: the first line of standard input.
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        _err("the passwords do not match; nothing changed")
        return None
    return first


def cmd_reviewer(args: argparse.Namespace) -> int:
    """Add, list or remove the reviewer accounts that may log in to the panel."""

    from firstpass.accounts import AccountError, add_reviewer, check_name, list_reviewers, remove_reviewer

    store = _open_store()
    try:
        if args.reviewer_command == "list":
            names = list_reviewers(store)
            if not names:
                _out("no reviewer accounts; add one with `firstpass reviewer add NAME`")
            for r in names:
                _out(f"{r.name}\tadded {time.strftime('%Y-%m-%d %H:%M', time.localtime(r.created_at))}")
            return 0
        if args.reviewer_command == "remove":
            if not remove_reviewer(store, args.name):
                _err(f"there is no reviewer {args.name!r}")
                return 1
            _out(f"removed reviewer {args.name} (their past decisions stay in the audit log)")
            return 0
        try:
            check_name(args.name)
            password = _read_password(args.name)
            if password is None:
                return 1
            add_reviewer(store, args.name, password, replace=args.replace)
        except AccountError as exc:
            _err(str(exc))
            return EXIT_USAGE
        _out(f"{'updated' if args.replace else 'added'} reviewer {args.name}")
        return 0
    finally:
        store.close()


def cmd_undo(args: argparse.Namespace) -> int:
    """Take back a decision: the item shows again what it showed before."""
    from firstpass.service import DecisionError
    from firstpass.session import open_app, open_models

    settings = load_settings()
    with open_models(settings) as models, open_app(settings, models) as app:
        try:
            item = app.undo(args.item, args.reviewer)
        except DecisionError as exc:
            _err(str(exc))
            return 1
    _out(f"item {item.id}: back to {item.status.replace('_', '-')}" + (" (waiting for its audit)"
                                                                        if item.audit_pending else ""))
    _out(f"  {item.draft}")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    """List the prompt versions, show one, or diff two."""
    import difflib

    from firstpass.session import use_prompt_dir
    from prompts.loader import list_versions, load_prompt, template_text

    use_prompt_dir(load_settings())
    if args.prompts_command == "list":
        used = {r["version"]: r for r in _open_store().prompt_versions()}
        _out(f"{'VERSION':<16} {'HASH':<12}  {'FIRST USED':<16}  DESCRIPTION")
        flagged = []
        for kind in ("drafter", "critic"):
            for version in list_versions(kind):
                p = load_prompt(kind, version)
                first = _when(used[version]["first_used_at"]) if version in used else "never"
                found = sensitive_in(p)
                if found:
                    flagged.append((version, found))
                _out(f"{version:<16} {p.sha256[:12]}  {first:<16}  {'[! contact data] ' if found else ''}"
                     f"{p.description}")
        for version, found in flagged:
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            _err(f"warning: {version} carries contact data or CRM fields, sent with every call that uses it: "
                 f"{'; '.join(found[:3])}{more}; write a new version without them")
        return 0
    names = [args.version] if args.prompts_command == "show" else [args.a, args.b]
    texts = []
    for name in names:
        kind = name.split("-", 1)[0]
        if kind not in ("drafter", "critic"):
            _err(f"there is no prompt {name!r}: names look like drafter-v1 or critic-v1 (see `firstpass prompts list`)")
            return 1
        texts.append(template_text(kind, name))
    if args.prompts_command == "show":
        _out(texts[0])
        return 0
    for line in difflib.unified_diff(texts[0].splitlines(), texts[1].splitlines(), args.a, args.b, lineterm=""):
        _out(line)
    return 0


def sensitive_in(prompt: PromptTemplate) -> list[str]:
    """What in a prompt version must never be in a prompt file (email addresses, phone numbers, CRM ids, internal
    fields), each with where it is."""
    parts = [("the system message", prompt.system), ("the user template", prompt.user),
             ("the feedback block", prompt.feedback_block)]
    for i, example in enumerate(prompt.examples, start=1):
        parts += [(f"worked example {i}", example.get("user", "")), (f"worked example {i}'s answer",
                                                                     example.get("assistant", ""))]
    return [f"{s.kind} {s.masked()!r} in {where}" for where, text in parts for s in find_sensitive(text)]


def cmd_db(args: argparse.Namespace) -> int:
    """Show the database's migration state, or bring it to the newest migration."""
    from firstpass.db import migrate
    from firstpass.db.engine import sqlite_url

    settings = load_settings()
    if args.db_command == "prune":
        return _prune(args.older_than)
    state, changed = migrate.status(settings.database_url or sqlite_url(settings.db_path),
                                    apply=args.db_command == "upgrade", pg=settings.postgres.options())
    if args.db_command == "upgrade":
        _out(f"database {state.database}: {'upgraded to' if changed else 'already at'} {state.current}")
        return 0
    _out(f"database {state.database}")
    for name in state.history:
        _out(f"  {'*' if name == state.current else ' '} {name}")
    if not state.up_to_date:
        _out(f"not at the newest migration ({migrate.head()}): run `firstpass db upgrade`")
    return 0


def _prune(days: float) -> int:
    from firstpass.db.checkpoints import checkpointer_for
    from firstpass.retention import prune_checkpoints

    if days <= 0:
        _err("--older-than must be a positive number of days")
        return EXIT_USAGE
    store = _open_store()
    try:
        with checkpointer_for(store) as saver:
            pruned = prune_checkpoints(store, saver, days)
    finally:
        store.close()
    _out(f"pruned the checkpoints of {pruned} finished thread(s) unchanged for {days:g} day(s); items, the audit "
         "log and eval cases are kept")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Walk the audit log's hash chain and report the first broken link."""
    from firstpass.stores import open_store

    try:
        store = open_store(load_settings(), check_audit_log=False)
        verdict = store.verify_audit_log()
    except Exception as exc:  # noqa: BLE001 - a dropped table or a damaged file is a finding here, not a crash
        _err(f"the audit log cannot be verified: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return 1
    store.close()
    if not verdict.ok:
        _err(f"audit log broken after {verdict.rows - 1} good row(s): {verdict.broken}")
        return 1
    _out(f"audit log intact: {verdict.rows} row(s), head {verdict.head[:16]}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's approved first lines, with the original CSV columns, for a sequencer."""
    from firstpass.export import ExportError, export_run

    store = _open_store()
    try:
        counts = export_run(store, args.run, args.out, raw=args.raw)
    except ExportError as exc:
        _err(str(exc))
        return 1
    finally:
        store.close()
    _out(f"exported {counts.approved} approved line(s) from run {args.run!r} to {counts.path}")
    _out(f"left out: {counts.rejected} rejected, {counts.undecided} not yet decided")
    return 0


# parser ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    p = argparse.ArgumentParser(prog="firstpass", description="Pre-review gate for AI-written cold-email first lines.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="draft and gate every row of a prospect CSV")
    r.add_argument("csv", help="prospect CSV with a header (company and first name required)")
    r.add_argument("--run", help="run name (default: the file name); rerun with the same name to continue")
    r.add_argument("--concurrency", type=int, default=4, help="items in flight at once (default 4)")
    r.add_argument("--limit", type=int, help="process at most N items this time")
    r.add_argument("--enqueue", action="store_true",
                   help="load the rows and queue one job per item for `firstpass worker` processes (PostgreSQL)")
    r.add_argument("--follow", action="store_true", help="with --enqueue: show the run's progress until it is done")
    r.add_argument("--policy", help="policy TOML overlaying the defaults")
    r.add_argument("--skip-bad-rows", action="store_true",
                   help="leave out malformed rows (field count off, a stray quote, an oversized cell) instead of stopping")
    r.add_argument("--column", action="append", metavar="FIELD=HEADER",
                   help='the column to read a field from, e.g. --column company="Account Name" (repeatable)')
    r.add_argument("--context-columns", action="append", metavar="A,B",
                   help="more columns to send to the model as context, beside the notes-like ones the policy allows "
                        "(comma-separated, repeatable); contact data and CRM fields (email, phone, ids, owner, stage,"
                        " counts, ...) are refused")
    r.set_defaults(func=cmd_run)

    i = sub.add_parser("items", help="list items with their status")
    i.add_argument("--run")
    i.add_argument("--status", choices=STATUSES)
    i.add_argument("--json", action="store_true", help="one JSON object per line")
    i.set_defaults(func=cmd_items)

    s = sub.add_parser("show", help="show one item in full")
    s.add_argument("item", type=int)
    s.add_argument("--json", action="store_true", help="the raw record as JSON")
    s.set_defaults(func=cmd_show)

    d = sub.add_parser("decide", help="decide an item waiting for review")
    d.add_argument("item", type=int)
    d.add_argument("action", choices=("approve", "edit", "reject", "regenerate"))
    d.add_argument("--line", help="the edited line (edit)")
    d.add_argument("--category", action="append", choices=CATEGORIES, help="taxonomy category (reject; repeatable)")
    d.add_argument("--note", help="reject note, or feedback for the drafter (regenerate)")
    d.add_argument("--force", action="store_true", help="approve an edit even if rules still fire")
    d.add_argument("--reviewer", default=_default_reviewer(), help="who decides (default: the OS user)")
    d.add_argument("--policy", help="policy TOML overlaying the defaults")
    d.set_defaults(func=cmd_decide)

    n = sub.add_parser("undo", help="take back your last decision on an item (within the policy's window)")
    n.add_argument("item", type=int)
    n.add_argument("--reviewer", default=_default_reviewer(), help="who undoes: the reviewer who decided")
    n.set_defaults(func=cmd_undo)

    g = sub.add_parser("gate", help="check drafts from elsewhere: JSONL in, routes and findings out")
    g.add_argument("cases", help='JSONL, one {"id", "prospect", "draft"} per line')
    g.add_argument("--rules-only", action="store_true", help="skip the critic; route by the rules alone")
    g.add_argument("--out", help="write results here instead of standard output")
    g.add_argument("--policy", help="policy TOML overlaying the defaults")
    g.set_defaults(func=cmd_gate)

    m = sub.add_parser("demo", help="run the bundled example prospects on the embedded models")
    m.add_argument("--run", default="demo")
    m.add_argument("--concurrency", type=int, default=2)
    m.add_argument("--limit", type=int)
    m.set_defaults(func=cmd_demo)

    v = sub.add_parser("review", help="start the review panel in the browser")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    v.add_argument("--no-auth", action="store_true", help="no login (loopback addresses only)")
    v.add_argument("--reviewer", default=_default_reviewer(), help="who decides under --no-auth (default: the OS user)")
    v.add_argument("--run", help="open the queue filtered to this run")
    v.add_argument("--lease", type=float, default=300.0, help="seconds an opened item stays claimed (default 300)")
    v.add_argument("--policy", help="policy TOML overlaying the defaults")
    v.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a host name the panel also answers to, e.g. behind a proxy (repeatable); any other Host"
                        " header is refused")
    v.set_defaults(func=cmd_review)

    a = sub.add_parser("reviewer", help="manage the reviewer accounts that may log in to the panel")
    asub = a.add_subparsers(dest="reviewer_command", required=True)
    add = asub.add_parser("add", help="add a reviewer (asks for a password; reads it from stdin when piped)")
    add.add_argument("name")
    add.add_argument("--replace", action="store_true", help="set a new password for an existing reviewer")
    asub.add_parser("list", help="list reviewers")
    rm = asub.add_parser("remove", help="remove a reviewer")
    rm.add_argument("name")
    a.set_defaults(func=cmd_reviewer)

    x = sub.add_parser("export", help="write a run's approved lines as CSV for a sequencer")
    x.add_argument("--run", required=True, help="the run to export")
    x.add_argument("--out", required=True, help="CSV file to write, e.g. approved.csv")
    x.add_argument("--raw", action="store_true",
                   help="write cells exactly as stored; by default a cell that begins with = + - @, a tab or a"
                        " carriage return gets a leading ' so that a spreadsheet does not run it as a formula")
    x.set_defaults(func=cmd_export)

    u = sub.add_parser("audit", help="check the audit log")
    usub = u.add_subparsers(dest="audit_command", required=True)
    usub.add_parser("verify", help="walk the hash chain of the audit log and report the first broken link")
    u.set_defaults(func=cmd_audit)

    add_eval_parser(sub)
    add_stats_parsers(sub)
    add_work_parsers(sub)

    pr = sub.add_parser("prompts", help="the prompt versions: list, show one, diff two")
    prsub = pr.add_subparsers(dest="prompts_command", required=True)
    prsub.add_parser("list", help="every version, its hash, when it was first used and what it is")
    show_prompt = prsub.add_parser("show", help="one version's template")
    show_prompt.add_argument("version")
    diff_prompt = prsub.add_parser("diff", help="a unified diff of two versions' templates")
    diff_prompt.add_argument("a")
    diff_prompt.add_argument("b")
    pr.set_defaults(func=cmd_prompts)

    b = sub.add_parser("db", help="the database's migrations: status, or upgrade to the newest")
    bsub = b.add_subparsers(dest="db_command", required=True)
    bsub.add_parser("status", help="list the migrations and mark the one the database is at")
    bsub.add_parser("upgrade", help="apply every migration the database does not have yet (on PostgreSQL, run it "
                    "once before starting workers and panels; it also sets up LangGraph's checkpoint tables)")
    prune = bsub.add_parser("prune", help="delete the checkpoints of threads that finished long ago (never the "
                            "audit log, the items or eval cases)")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS",
                       help="threads finished and unchanged for this many days")
    b.set_defaults(func=cmd_db)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `firstpass` console script."""
    args = build_parser().parse_args(argv)
    # instructor logs every failed attempt; the critic's failure is reported as a finding instead.
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    log_path = _log_to_file()
    try:
        return int(args.func(args) or 0)
    except (CsvError, CasesError, SettingsError, PolicyError, PromptError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except (AuditLogError, DatabaseNotReadyError) as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        _err("interrupted; run the same command again to continue")
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly.
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - one line on the terminal; the traceback goes to the log file
        logging.getLogger("firstpass").exception("%s failed", args.command)
        where = f" (details in {log_path})" if log_path else ""
        _err(f"{one_line(exc)}{where}")
        return 1


def _log_to_file() -> Path | None:
    """Send firstpass's own log (tracebacks included) to $FIRSTPASS_HOME/logs/firstpass.log; its path, or None."""
    logger = logging.getLogger("firstpass")
    try:
        path = load_settings().home / "logs" / "firstpass.log"
        path.parent.mkdir(parents=True, exist_ok=True)
    except (OSError, SettingsError):
        return None
    if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return path


if __name__ == "__main__":
    sys.exit(main())
