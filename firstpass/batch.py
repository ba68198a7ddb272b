"""Run a prospect list through the gate with bounded concurrency, resumable after Ctrl-C or a crash."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from firstpass.db import TODO_STATUSES, Item
from firstpass.service import Firstpass


@dataclass
class BatchSummary:
    """What one batch invocation did."""

    processed: int = 0
    drafted: int = 0
    auto_approved: int = 0
    review: int = 0
    audit_sampled: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    held_elsewhere: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    def add(self, item: Item, owner: str = "") -> None:
        """Count one item this batch took through the graph (one another process holds is counted apart)."""
        if item.status in TODO_STATUSES and item.lease_owner and item.lease_owner != owner:
            self.held_elsewhere += 1
            return
        self.processed += 1
        self.drafted += item.draft is not None
        if item.status == "auto_approved":
            self.auto_approved += 1
            self.audit_sampled += item.audit_sample
        elif item.status == "review":
            self.review += 1
        elif item.status == "failed":
            self.failed += 1
            self.failures[(item.error or "unknown error").split("\n")[0][:160]] += 1


def todo(app: Firstpass, run: str, limit: int | None = None) -> list[Item]:
    """The items of a run that still need the graph, oldest first."""
    return app.store.items(run=run, statuses=TODO_STATUSES, limit=limit)


def run_batch(app: Firstpass, items: list[Item], concurrency: int = 4,
              on_done: Callable[[Item], None] | None = None) -> BatchSummary:
    """Process items on `concurrency` threads; each result is saved as it finishes, so Ctrl-C loses nothing decided."""
    summary = BatchSummary()
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="firstpass")
    queue = iter(items)
    running: set[Future[Item]] = set()
    try:
        # Submit lazily so that Ctrl-C leaves at most `concurrency` items in flight.
        for item in queue:
            running.add(pool.submit(app.process, item))
            if len(running) >= concurrency:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                _collect(done, summary, on_done, app.owner)
        done, running = wait(running)
        _collect(done, summary, on_done, app.owner)
    except KeyboardInterrupt:
        summary.interrupted = True
        done, _ = wait(running)  # let in-flight items finish and save
        _collect(done, summary, on_done, app.owner)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        summary.seconds = time.perf_counter() - started
    return summary


def _collect(done: set[Future[Item]], summary: BatchSummary, on_done: Callable[[Item], None] | None,
             owner: str) -> None:
    for fut in done:
        item = fut.result()
        summary.add(item, owner)
        if on_done:
            on_done(item)
