"""`firstpass worker`: take item jobs from the PostgreSQL queue (procrastinate) and advance their threads.

Any number of workers on any machine that reaches the database: each runs up to `concurrency` items at once on
its own threads (a model call is mostly waiting). procrastinate's per-item lock runs one job per item at a time,
its heartbeats tell live workers from dead ones, and every worker puts the jobs of a dead one back in the queue.
The item's lease and fencing token, checked in the transaction that saves the result, make sure that a worker
whose item was taken over discards its result. SIGTERM or Ctrl-C drains: items in flight finish and are saved,
nothing new is taken.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from firstpass.db import jobqueue
from firstpass.db.engine import PgOptions, libpq_url
from firstpass.service import Firstpass

log = logging.getLogger(__name__)
# A job whose process raised (the database went away, say) is tried again this often, a little later each time;
# a model's failure is not an exception here: it marks the item failed, which `run --enqueue` queues again.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process takes jobs (the command line and the settings give every figure)."""

    concurrency: int
    heartbeat: float
    stalled_after: float
    # Seconds between polls when no notification arrives (LISTEN/NOTIFY wakes workers at once otherwise).
    poll: float = 2.0


def job_app(url: str, pg: PgOptions, pool_size: int = 4) -> Any:
    """A procrastinate App on the database at `url`, over a small pool of its own (prepare threshold as set)."""
    from procrastinate import App, PsycopgConnector

    return App(connector=PsycopgConnector(
        conninfo=libpq_url(url), min_size=1, max_size=pool_size, max_lifetime=pg.max_lifetime,
        timeout=pg.connect_timeout, kwargs={"prepare_threshold": pg.prepare_threshold}))


def advance_one(app: Firstpass, item_id: int) -> str:
    """Advance one item's thread as far as it goes without a human (a job's work); the item's status after it."""
    try:
        return app.advance(item_id).status
    except KeyError:
        return "gone"


async def _requeue_stalled(jobs: Any, options: WorkerOptions) -> None:
    """Put the jobs of workers that stopped sending heartbeats (killed, or their machine gone) back in the queue."""
    while True:
        await asyncio.sleep(options.heartbeat)
        try:
            for job in await jobs.job_manager.get_stalled_jobs(queue=jobqueue.QUEUE,
                                                               seconds_since_heartbeat=options.stalled_after):
                log.warning("job %s (item %s) was running on a dead worker; queued again", job.id,
                            job.task_kwargs.get("item_id"))
                await jobs.job_manager.retry_job(job)
        except Exception:  # noqa: BLE001 - another worker may have retried it first; look again next beat
            log.debug("stalled-job check failed", exc_info=True)


def run_worker(app: Firstpass, options: WorkerOptions,
               on_done: Callable[[int, str], None] | None = None) -> None:
    """Run jobs until SIGTERM or Ctrl-C, then let the items in flight finish and return."""
    asyncio.run(_run(app, options, on_done))


async def _run(app: Firstpass, options: WorkerOptions, on_done: Callable[[int, str], None] | None) -> None:
    from procrastinate import RetryStrategy

    threads = ThreadPoolExecutor(max_workers=max(1, options.concurrency), thread_name_prefix="firstpass-job")
    jobs = job_app(app.store.url, app.store.pg)

    async def advance(item_id: int) -> str:
        status = await asyncio.get_running_loop().run_in_executor(threads, advance_one, app, item_id)
        if on_done is not None:
            on_done(item_id, status)
        return status

    jobs.task(name=jobqueue.TASK, queue=jobqueue.QUEUE,
              retry=RetryStrategy(max_attempts=MAX_ATTEMPTS, linear_wait=2))(advance)
    try:
        async with jobs.open_async():
            requeue = asyncio.create_task(_requeue_stalled(jobs, options))
            try:
                await jobs.run_worker_async(
                    queues=[jobqueue.QUEUE], concurrency=options.concurrency, name=app.owner,
                    update_heartbeat_interval=options.heartbeat, stalled_worker_timeout=options.stalled_after,
                    fetch_job_polling_interval=options.poll, delete_jobs="successful", install_signal_handlers=True)
            finally:
                requeue.cancel()
    finally:
        threads.shutdown(wait=True)
