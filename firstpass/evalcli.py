"""`firstpass eval ...`: import and export cases, run and resume evals, their history and reports, suggestions."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from evals.formatting import num, pct
from firstpass.settings import Settings, load_settings
from firstpass.terminal import complain, escape, say

EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    """The `eval` subcommand and its own subcommands."""
    ev = sub.add_parser("eval", help="eval cases and eval runs: import, export, run, history, report, suggest")
    evsub = ev.add_subparsers(dest="eval_command", required=True)
    evi = evsub.add_parser("import", help="import cases: JSONL of {id, prospect, draft} plus optional label, errors, final")
    evi.add_argument("file")
    evo = evsub.add_parser("export", help="export the eval cases (not the withdrawn ones) as JSONL or CSV")
    evo.add_argument("--out", required=True, help="file to write: .jsonl, or .csv")
    evr = evsub.add_parser("run", help="compare two drafter prompt versions on the test split, and check the critic"
                                       " against the humans; a stopped run resumes")
    evr.add_argument("--drafter-prompt", required=True, help="the candidate drafter prompt version, e.g. drafter-v2")
    evr.add_argument("--baseline", help="the version to compare with (default: the one before the candidate)")
    evr.add_argument("--critic-prompt", help="the critic prompt version to gate with (default: the one in force)")
    evr.add_argument("--few-shot", type=int, default=0, metavar="K",
                     help="give the candidate the K nearest human-approved examples from the train split")
    evr.add_argument("--repeat", type=int, default=1, help="draft each case N times (flakiness)")
    evr.add_argument("--only", choices=["failing"], help="only the cases the candidate failed in its last run")
    evr.add_argument("--limit", type=int, help="at most N test cases")
    evr.add_argument("--concurrency", type=int, default=4, help="model calls in flight at once (default 4)")
    evr.add_argument("--no-critic-eval", action="store_true", help="skip the critic eval (the drafter comparison only)")
    evr.add_argument("--json-out", help="also write the JSON report here")
    evr.add_argument("--html-out", help="also write the HTML report here")
    evr.add_argument("--fail-on-regression", action="store_true", help="exit 1 when the verdict is 'regressed'")
    evh = evsub.add_parser("history", help="every eval run: its versions, figures and how they moved")
    evh.add_argument("--limit", type=int, default=20, help="the newest N runs (default 20)")
    evh.add_argument("--json", action="store_true", help="one JSON object per run")
    evp = evsub.add_parser("report", help="write a stored run's report again (default: the newest)")
    evp.add_argument("run_id", nargs="?", type=int)
    evp.add_argument("--html-out", help="HTML file to write")
    evp.add_argument("--json-out", help="JSON file to write")
    evs = evsub.add_parser("suggest", help="a brief for the next drafter prompt from the override log")
    evs.add_argument("--write", action="store_true", help="write the next drafter version and compare it on the test split")
    evs.add_argument("--llm", action="store_true", help="with --write: also let the drafter model revise the instructions")
    evs.add_argument("--parent", help="the version to start from (default: the newest)")
    evs.add_argument("--examples", type=int, default=3, help="worked examples to add from the train split (default 3)")
    evs.add_argument("--keep", action="store_true", help="keep the written version even if the comparison regresses")
    evs.add_argument("--concurrency", type=int, default=4, help="model calls in flight at once (default 4)")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    """Dispatch `firstpass eval ...`."""
    handlers = {"import": _import, "export": _export, "run": _run, "history": _history, "report": _report,
                "suggest": _suggest}
    return handlers[args.eval_command](args)


def _store(settings: Settings) -> Any:
    from firstpass.stores import open_store

    return open_store(settings)


def _import(args: argparse.Namespace) -> int:
    from evals.gate import read_cases

    cases = read_cases(args.file)
    store = _store(load_settings())
    try:
        added, known = store.import_eval_cases(((c.prospect, c.draft, c.label, c.errors, c.final) for c in cases),
                                               Path(args.file).name)
    finally:
        store.close()
    say(f"imported {added} eval case(s) from {args.file}; {known} were there already")
    return 0


def _export(args: argparse.Namespace) -> int:
    store = _store(load_settings())
    try:
        rows = [c for c in store.eval_cases() if c["withdrawn_at"] is None]
    finally:
        store.close()
    records = [{"id": c["case_key"], "prospect": c["prospect"], "draft": c["ai_line"], "label": c["label"]
                or ("good" if c["verdict"] == "approve" else "bad"), "errors": c["errors"] or c["categories"],
                "final": c["final_line"], "verdict": c["verdict"], "split": c["split"], "source": c["source"],
                "reviewer": c["reviewer"]} for c in rows]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "company", "first_name", "draft", "label", "errors", "final", "verdict", "split"])
            for r in records:
                writer.writerow([r["id"], r["prospect"].get("company", ""), r["prospect"].get("first_name", ""),
                                 r["draft"], r["label"], " ".join(r["errors"]), r["final"] or "", r["verdict"],
                                 r["split"]])
    else:
        with out.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    say(f"exported {len(records)} eval case(s) to {out}")
    return 0


def _progress() -> tuple[Any, Any]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def total(n: int) -> None:
        bar["bar"] = tqdm(total=n, unit="job", file=sys.stderr, disable=n == 0, desc="eval")

    def done() -> None:
        bar["bar"].update(1)

    return total, done


def _run(args: argparse.Namespace) -> int:
    from firstpass.evalrun import EvalError, EvalPlan, run_evals
    from firstpass.session import open_app, open_models, use_prompt_dir
    from prompts.loader import list_versions

    settings = load_settings()
    use_prompt_dir(settings)
    versions = list_versions("drafter")
    if args.drafter_prompt not in versions or (args.baseline and args.baseline not in versions):
        missing = args.drafter_prompt if args.drafter_prompt not in versions else args.baseline
        complain(f"there is no drafter prompt {missing!r} (versions: {', '.join(versions)}); see firstpass prompts list")
        return EXIT_USAGE
    before = versions[:versions.index(args.drafter_prompt)]
    baseline = args.baseline or (before[-1] if before else args.drafter_prompt)
    plan = EvalPlan(candidate=args.drafter_prompt, baseline=baseline, critic_prompt=args.critic_prompt,
                    few_shot=args.few_shot, repeat=args.repeat, limit=args.limit, only_failing=args.only == "failing",
                    critic_eval=not args.no_critic_eval, concurrency=args.concurrency)
    total, done = _progress()
    with open_models(settings) as models, open_app(settings, models) as app:
        try:
            result = run_evals(app, plan, on_total=total, on_done=done)
        except EvalError as exc:
            complain(str(exc))
            return 1
    if result.resumed:
        say(f"resumed eval run {result.run_id}: {result.reused} finished job(s) reused")
    show_report(result.report)
    _write_reports(settings, result.report, args.json_out, args.html_out)
    drafter = result.report["drafter"]
    return 1 if args.fail_on_regression and drafter and drafter["verdict"] == "regressed" else 0


def show_report(report: dict[str, Any]) -> None:
    """The report in the terminal: the two versions side by side, the verdict, and the critic's figures."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    run, drafter, critic = report["run"], report["drafter"], report["critic"]
    if drafter:
        table = Table(title=Text(f"drafter eval {run['id']}: {run['cases']} test case(s), {run['repeat']} repeat(s)"))
        for column in ("version", "passed", "pass rate", "Wilson 95%", "flaky", "similarity", "top categories"):
            table.add_column(column)
        for side in ("baseline", "candidate"):
            v = drafter[side]
            top = ", ".join(f"{k} {n}" for k, n in sorted(v["categories"].items(), key=lambda kv: -kv[1])[:3]) or "-"
            table.add_row(*(Text(escape(x)) for x in (
                v["version"], f"{v['passed']}/{v['cases']}", pct(v["pass_rate"]),
                f"{pct(v['wilson_95'][0])}-{pct(v['wilson_95'][1])}", str(len(v["flaky_cases"])),
                num(v["mean_similarity"], 0), top)))
        console.print(table)
        paired = drafter["paired"]
        say(f"paired: {paired['newly_fixed']} newly fixed, {paired['newly_failing']} newly failing, "
            f"exact McNemar p = {paired['mcnemar_exact_p']:.3g}")
        say(f"verdict: {drafter['verdict']}")
    if critic:
        c = critic["confusion"]
        table = Table(title=Text(f"critic eval ({critic['prompt']}) on {critic['n']} human-judged line(s)"))
        for column in ("", "human fixed it", "human approved as is"):
            table.add_column(column)
        table.add_row("flagged", str(c["flagged_bad"]), str(c["flagged_ok"]))
        table.add_row("passed", str(c["passed_bad"]), str(c["passed_ok"]))
        console.print(table)
        say(f"precision {pct(critic['precision'])}, recall {pct(critic['recall'])}, kappa {num(critic['kappa'])} "
            f"(base rate of fixed lines {pct(critic['base_rate_bad'])}), Brier {num(critic['brier'], 3)}"
            + (f", critic failed on {critic['critic_failed']}" if critic["critic_failed"] else ""))
        noisy = [r for r in critic["per_rule"] if r["on_approved"]]
        if noisy:
            say("rules that fired on approved lines: " + ", ".join(
                f"{r['code']} {r['on_approved']}/{r['fired']}" for r in noisy[:5]))


def _write_reports(settings: Settings, report: dict[str, Any], json_out: str | None, html_out: str | None) -> None:
    from evals.html_report import render_html

    folder = settings.home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(report, indent=2, ensure_ascii=False)
    html = render_html(report)
    stem = folder / f"eval-{report['run']['id']}"
    targets = [(stem.with_suffix(".json"), data), (stem.with_suffix(".html"), html)]
    targets += [(Path(p), t) for p, t in ((json_out, data), (html_out, html)) if p]
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    say(f"reports: {stem}.html, {stem}.json" + "".join(f", {p}" for p in (json_out, html_out) if p))


def _history(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from firstpass.evalrun import history_row

    store = _store(load_settings())
    try:
        runs = list(reversed(store.eval_runs.runs(limit=args.limit)))
    finally:
        store.close()
    if args.json:
        for r in runs:
            say(json.dumps({k: r[k] for k in ("id", "created_at", "finished_at", "set_hash", "config")}
                           | {"summary": history_row(r)}, ensure_ascii=False))
        return 0
    if not runs:
        say("no eval runs yet: firstpass eval run --drafter-prompt VERSION")
        return 0
    table = Table(title="eval runs, oldest first; (Δ) against the same version's previous run on the same set")
    for column in ("run", "when", "set (cases)", "baseline", "candidate", "verdict", "critic: kappa, Brier"):
        table.add_column(column)
    last: dict[tuple[str, str], float] = {}
    for r in runs:
        row = history_row(r)
        cells = [str(r["id"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"])),
                 f"{r['set_hash'][:8]} ({row['cases']})"]
        for side in ("baseline", "candidate"):
            version, rate = row[side]
            moved = last.get((r["set_hash"], version))
            delta = f" ({rate - moved:+.0%})" if rate is not None and moved is not None else ""
            cells.append(f"{version} {pct(rate)}{delta}")
            if rate is not None:
                last[(r["set_hash"], version)] = rate
        cells += [row["verdict"], f"{row['critic']}: {num(row['kappa'])}, {num(row['brier'], 3)}"]
        table.add_row(*(Text(escape(c)) for c in cells))
    Console().print(table)
    return 0


def _report(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = _store(settings)
    try:
        runs = [store.eval_runs.run(args.run_id)] if args.run_id else store.eval_runs.runs(limit=1, finished_only=True)
    finally:
        store.close()
    run = runs[0] if runs else None
    if run is None or run["report"] is None:
        complain(f"eval run {args.run_id} has no report: it does not exist or has not finished (run it again to"
                 " resume it)" if args.run_id else "no finished eval run yet: firstpass eval run --drafter-prompt V")
        return 1
    show_report(run["report"])
    _write_reports(settings, run["report"], args.json_out, args.html_out)
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from evals.suggest import brief_text
    from firstpass.evalrun import EvalError, EvalPlan, run_evals
    from firstpass.session import open_app, open_models, use_prompt_dir
    from firstpass.suggest import brief_for, write_suggestion
    from prompts.loader import list_versions

    settings = load_settings()
    use_prompt_dir(settings)
    parent = args.parent or list_versions("drafter")[-1]
    with open_models(settings) as models, open_app(settings, models) as app:
        say(brief_text(brief_for(app, parent)))
        if not args.write:
            return 0
        made = write_suggestion(app, parent, args.examples, args.llm, settings.prompts_dir)
        say(f"\nwrote {made.version} to {made.path}" + (f" ({made.llm_note})" if made.llm_note else ""))
        say(made.diff)
        total, done = _progress()
        try:
            result = run_evals(app, EvalPlan(candidate=made.version, baseline=parent, critic_eval=False,
                                             concurrency=args.concurrency), on_total=total, on_done=done)
        except EvalError as exc:
            complain(f"{exc}; {made.version} is written but not yet compared")
            return 1
    show_report(result.report)
    _write_reports(settings, result.report, None, None)
    verdict = result.report["drafter"]["verdict"]
    if verdict == "regressed" and not args.keep:
        made.path.unlink()
        say(f"{made.version} regressed against {parent}: its file was removed (--keep keeps it). The name stays used.")
        return 1
    if verdict == "improved":
        say(f"{made.version} improved on {parent}; it is the newest version, so new runs draft with it (set"
            f" FIRSTPASS_PROMPT_VERSION={parent} to stay on {parent}).")
    else:
        say(f"{made.version} is not shown to be better than {parent} ({verdict}). It is kept at {made.path} for more"
            f" evals (--repeat, more cases), but as the newest version new runs would draft with it: set"
            f" FIRSTPASS_PROMPT_VERSION={parent} to stay on {parent}, or delete the file to drop it.")
    return 0
