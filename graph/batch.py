"""Run a prospect list through the gate with bounded concurrency, resumable after Ctrl-C or a crash."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from firstpass.store import Item
from graph.app import Firstpass

# Items in these states still have work the graph can do without a human.
TODO_STATUSES = ("queued", "failed", "deciding")


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
    interrupted: bool = False
    seconds: float = 0.0

    def add(self, item: Item) -> None:
        """Count one processed item."""
        self.processed += 1
        self.drafted += item.draft is not None
        if item.status == "auto_approved":
            self.auto_approved += 1
            self.audit_sampled += item.audit_sample
        elif item.status in ("review", "deciding"):
            self.review += 1
        elif item.status == "failed":
            self.failed += 1
            self.failures[(item.error or "unknown error").split("\n")[0][:160]] += 1


def todo(app: Firstpass, run: str, limit: int | None = None) -> list[Item]:
    """The items of a run that still need the graph, oldest first."""
    items = [i for s in TODO_STATUSES for i in app.store.items(run=run, status=s)]
    items.sort(key=lambda i: i.id)
    return items[:limit] if limit else items


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
                _collect(done, summary, on_done)
        done, running = wait(running)
        _collect(done, summary, on_done)
    except KeyboardInterrupt:
        summary.interrupted = True
        done, _ = wait(running)  # let in-flight items finish and save
        _collect(done, summary, on_done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        summary.seconds = time.perf_counter() - started
    return summary


def _collect(done: set[Future[Item]], summary: BatchSummary, on_done: Callable[[Item], None] | None) -> None:
    for fut in done:
        item = fut.result()
        summary.add(item)
        if on_done:
            on_done(item)
