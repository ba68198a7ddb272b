"""`firstpass stats` and `firstpass calibrate`: what review catches, and the gate's threshold with a guarantee."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from firstpass.settings import Settings, load_settings
from firstpass.terminal import complain, say


def add_parsers(sub: Any) -> None:
    """The `stats` and `calibrate` subcommands."""
    st = sub.add_parser("stats", help="volume, backlog, overrides, error on sent lines, reviewers, narrowing")
    st.add_argument("--run", help="only this run")
    st.add_argument("--since", help="only lines and decisions since YYYY-MM-DD, or the last Nd days (e.g. 7d)")
    st.add_argument("--json", action="store_true", help="print the figures as JSON (stable keys)")
    st.add_argument("--html-out", help="also write the figures as an HTML report here")
    st.set_defaults(func=cmd_stats)
    ca = sub.add_parser("calibrate", help="choose the confidence threshold from shadow-mode verdicts, with a "
                                          "guarantee on the miss rate among auto-approved lines")
    ca.add_argument("--target-miss-rate", type=float, default=None, metavar="ALPHA",
                    help="the miss rate to guarantee (default: route.accepted_error_rate)")
    ca.add_argument("--delta", type=float, default=0.05, help="the chance the guarantee may fail (default 0.05)")
    ca.add_argument("--apply", action="store_true", help="write the certified threshold as a new policy version")
    ca.add_argument("--json", action="store_true", help="print the calibration as JSON")
    ca.set_defaults(func=cmd_calibrate)


def _open(settings: Settings) -> tuple[Any, Any]:
    from critics.policy import load_policy
    from firstpass.stores import open_store

    return open_store(settings), load_policy(settings.policy_file)


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the metrics (tables, or JSON), and write the HTML report when asked."""
    from firstpass import metrics

    settings = load_settings()
    store, policy = _open(settings)
    try:
        figures = metrics.collect(store, policy, args.run, metrics.parse_since(args.since))
    except metrics.StatsError as exc:
        complain(str(exc))
        return 2
    finally:
        store.close()
    if args.html_out:
        from evals.metrics_report import render_metrics_html

        Path(args.html_out).write_text(render_metrics_html(figures), encoding="utf-8")
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    else:
        metrics.show(figures)
        if args.html_out:
            say(f"report: {args.html_out}")
    return 0


def current_config(settings: Settings, policy: Any) -> Any:
    """The configuration lines would be drafted under now: prompt version, models and checks."""
    from firstpass.calibrate import Config
    from firstpass.session import use_prompt_dir
    from prompts.loader import load_prompt

    use_prompt_dir(settings)
    return Config(load_prompt("drafter", settings.prompt_version).version, settings.drafter.model,
                  settings.critic.model, policy.checks_hash())


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run Learn-then-Test over the shadow verdicts; print the curve and the guarantee; apply it when asked."""
    from firstpass import calibrate

    settings = load_settings()
    store, policy = _open(settings)
    alpha = args.target_miss_rate if args.target_miss_rate is not None else policy.route.accepted_error_rate
    if not (0 < alpha < 1 and 0 < args.delta < 1):
        complain("--target-miss-rate and --delta must be between 0 and 1, e.g. 0.02 and 0.05")
        store.close()
        return 2
    try:
        config = current_config(settings, policy)
        certificate, others = calibrate.run(store, config, policy, alpha, args.delta)
        data = calibrate.report(certificate, config, others)
        if args.json:
            print(json.dumps(data, indent=2, sort_keys=True))
        else:
            _show_calibration(data)
        if certificate.threshold is None:
            complain(certificate.reason)
            return 1
        if args.apply:
            path = calibrate.apply(store, settings.home, settings.policy_file, certificate, data)
            say(f"applied: confidence_threshold = {certificate.threshold:.2f}, written as {path} and to the policy "
                f"in force ({settings.policy_file or settings.home / 'policy.toml'}); the audit rate starts again "
                "at every line for the new gate")
    finally:
        store.close()
    return 0


def _show_calibration(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from evals.formatting import NONE, num, pct, pct1

    cfg, cal = data["config"], data["calibration"]
    say(f"calibrating {cfg['prompt_version']} with {cfg['drafter_model']} and {cfg['critic_model']} (checks "
        f"{cfg['checks_hash']}): {data['lines']} shadow-mode verdicts, {data['eligible']} on lines the gate could "
        f"auto-approve")
    if cal["signal"]:
        say(f"the critic's confidence carries a signal (AUC {num(cal['auc'])}, p = {cal['p_value']:.3g}); "
            "calibrated to the chance a human approves the line as is")
    else:
        say(f"the critic's confidence carries no signal (AUC {num(cal['auc'])}, p = {cal['p_value']:.3g}): it gets no "
            "weight, and only lines with no finding are candidates")
    for other, n in data["other_configs"].items():
        say(f"  ({n} shadow line(s) under another configuration left out: {other})")
    table = Table(title=Text(f"trade-off: alpha = {pct1(data['alpha'])}, delta = {pct(data['delta'])}, strictest first"))
    for head in ("threshold", "auto-approve", "lines", "changed", "miss rate", f"{pct(1 - data['delta'])} bound",
                 "P(approve)", "p-value", "certified"):
        table.add_column(Text(head))
    for s in data["curve"]:
        table.add_row(*(Text(c) for c in (f"{s['threshold']:.2f}", pct(s["auto_rate"]), str(s["auto_approved"]),
                                          str(s["misses"]), pct1(s["miss_rate"]), pct1(s["upper"]),
                                          num(s["calibrated_approval"]), f"{s['p_value']:.3g}",
                                          "yes" if s["passed"] else NONE)))
    Console().print(table)
    if data["threshold"] is not None:
        say(data["guarantee"])
