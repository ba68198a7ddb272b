"""`firstpass worker`, `firstpass status`, and `run --enqueue [--follow]`: many processes over one PostgreSQL
database, and what they are doing."""

from __future__ import annotations

import argparse
import time
from typing import Any

from firstpass import cpus
from firstpass.db import DONE_STATUSES, Activity, Store
from firstpass.db.engine import is_postgres
from firstpass.settings import load_settings
from firstpass.terminal import complain, say

EXIT_USAGE = 2
NEEDS_POSTGRES = ("workers share a PostgreSQL database: set FIRSTPASS_DATABASE_URL=postgresql://… and run "
                  "`firstpass db upgrade` once. On the embedded SQLite file, `firstpass run FILE` does the work itself")


def add_parsers(sub: Any) -> None:
    """The `worker` and `status` subcommands."""
    w = sub.add_parser("worker", help="draft, gate and save items from the job queue (PostgreSQL), until SIGTERM")
    w.add_argument("--concurrency", type=int, default=16, help="items in flight at once (default 16)")
    w.add_argument("--policy", help="policy TOML overlaying the defaults")
    w.add_argument("--cpu", type=int, help="run on this CPU only (Linux): one worker process uses one core, and "
                   "pinned it spends about a third less CPU per item")
    w.add_argument("--processes", default="1", help="start this many worker processes, each pinned to its own CPU, "
                   "each with --concurrency items in flight; 'auto': one per usable CPU (default 1)")
    w.set_defaults(func=cmd_worker)
    st = sub.add_parser("status", help="queued, running (by worker), waiting for review, done, failed; workers seen")
    st.add_argument("--run", help="only this run")
    st.set_defaults(func=cmd_status)


def cmd_worker(args: argparse.Namespace) -> int:
    """Take item jobs until stopped; SIGTERM or Ctrl-C lets the items in flight finish."""
    from critics.policy import load_policy
    from firstpass.session import open_app, open_models
    from firstpass.worker import WorkerOptions, run_worker

    if args.concurrency < 1:
        complain("--concurrency must be at least 1")
        return EXIT_USAGE
    processes = _processes(args.processes)
    if processes is None or (processes > 1 and args.cpu is not None):
        complain(f"--processes {args.processes}: give a number of processes of at least 1, or 'auto'"
                 if processes is None else "--cpu pins one process: --processes picks a CPU for each of its own")
        return EXIT_USAGE
    if args.cpu is not None:
        try:
            cpus.pin(args.cpu)
        except cpus.CpuError as exc:
            complain(str(exc))
            return EXIT_USAGE
    settings = load_settings()
    if not is_postgres(str(settings.database)):
        complain(NEEDS_POSTGRES)
        return EXIT_USAGE
    policy = load_policy(args.policy) if args.policy else None  # read here too, so a bad file stops the parent
    if processes > 1:
        return _many(processes, args)
    options = WorkerOptions(concurrency=args.concurrency, heartbeat=settings.worker.heartbeat,
                            stalled_after=settings.worker.stalled_after)
    with open_models(settings) as models, open_app(settings, models, policy=policy) as app:
        where = f" on CPU {args.cpu}" if args.cpu is not None else ""
        complain(f"worker {app.owner}: {args.concurrency} at a time{where} (SIGTERM or Ctrl-C drains and stops)")
        done: dict[str, int] = {}

        def counted(_item_id: int, status: str) -> None:
            done[status] = done.get(status, 0) + 1

        run_worker(app, options, on_done=counted)
    complain("worker stopped: " + (", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "no items"))
    return 0


def _processes(value: str) -> int | None:
    if value == "auto":
        return len(cpus.usable())
    return int(value) if value.isdigit() and int(value) >= 1 else None


def _many(processes: int, args: argparse.Namespace) -> int:
    from firstpass.prefork import supervise, worker_command

    placed = cpus.spread(processes)
    complain(f"{processes} worker processes on CPU " + ", ".join(map(str, placed))
             + f", {args.concurrency} items in flight each (SIGTERM or Ctrl-C drains them and stops)")
    return supervise([worker_command(cpu, args.concurrency, args.policy) for cpu in placed])


def enqueue_run(store: Store, run: str, follow: bool) -> int:
    """Queue a job for each item of `run` still to do (the rows are loaded); follow the run when asked."""
    if not store.postgres:
        complain(NEEDS_POSTGRES)
        return EXIT_USAGE
    queued = store.enqueue(run)
    complain(f"run {run!r}: {queued} job(s) queued for the workers (`firstpass worker` on any machine)")
    if follow:
        return follow_run(store, run)
    say(f"follow it: firstpass status --run {run}")
    return 0


def follow_run(store: Store, run: str, interval: float = 0.5) -> int:
    """A progress bar fed from the database until no item of `run` is queued or running; Ctrl-C stops watching
    (the workers go on)."""
    from tqdm import tqdm

    total = sum(store.activity(run).statuses.values())
    bar = tqdm(total=total, unit="item", desc=run)
    warned = False
    started = time.monotonic()
    try:
        while True:
            now = store.activity(run)
            left = now.statuses.get("queued", 0)
            bar.n = total - left
            bar.set_postfix_str(f"running {sum(now.running.values())}, review {now.statuses.get('review', 0)}, "
                                f"failed {now.statuses.get('failed', 0)}, workers {now.workers}", refresh=True)
            if left == 0:
                break
            if not warned and now.workers == 0 and time.monotonic() - started > 5:
                bar.write("no worker has been seen in the last minute: start one with `firstpass worker`")
                warned = True
            time.sleep(interval)
    except KeyboardInterrupt:
        bar.close()
        complain(f"stopped watching; the workers go on (firstpass status --run {run})")
        return 130
    bar.close()
    _show(store.activity(run), run)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print what the items (of a run, or all) are doing, and the workers seen in the last minute."""
    from firstpass.stores import open_store

    store = open_store(load_settings())
    try:
        if args.run and args.run not in store.runs():
            complain(f"there is no run {args.run!r} (runs: {', '.join(store.runs()) or 'none yet'})")
            return EXIT_USAGE
        _show(store.activity(args.run), args.run)
    finally:
        store.close()
    return 0


def _show(now: Activity, run: str | None) -> None:
    s = now.statuses
    running = sum(now.running.values())
    say(f"{'run ' + repr(run) if run else 'all runs'}: {sum(s.values())} item(s)")
    say(f"  queued                {s.get('queued', 0) - min(running, s.get('queued', 0))}")
    say(f"  running               {running}")
    for owner, n in sorted(now.running.items()):
        say(f"    {n:>5}  {owner}")
    say(f"  waiting for review    {s.get('review', 0)}")
    say(f"  audits waiting        {now.audits_waiting}")
    say(f"  done                  {sum(s.get(k, 0) for k in DONE_STATUSES)}  ("
        + ", ".join(f"{k.replace('_', '-')} {s.get(k, 0)}" for k in sorted(DONE_STATUSES)) + ")")
    say(f"  failed                {s.get('failed', 0)}" + ("  (queue them again: run FILE --enqueue)"
                                                            if s.get("failed") else ""))
    if now.jobs or now.workers:
        say("  jobs                  " + (", ".join(f"{k} {v}" for k, v in sorted(now.jobs.items())) or "none"))
        say(f"  workers seen in the last minute: {now.workers}")
