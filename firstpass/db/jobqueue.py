"""The job queue on PostgreSQL (procrastinate): one job per item to advance, enqueued inside the store's own
transactions, so an item loaded or a decision recorded and its job are committed together or not at all.

A job names only the item. What it has to do is read from the item when it runs (draft it, continue a thread that
stopped part-way, or apply the reviewer's decision waiting in `resume_json`), so a retried or duplicated job does
the right thing or nothing. The job's lock (one running job per lock) keeps two workers off one item; the item's
lease with its fencing token is what makes a late writer's result be discarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

TASK = "firstpass.advance"
QUEUE = "firstpass"
# procrastinate's function takes the jobs as one array; this many per statement keeps a 100,000-row load's
# statements small.
BATCH = 1000


def lock_of(item_id: int) -> str:
    """The procrastinate lock of an item's jobs: one of them runs at a time."""
    return f"firstpass-item-{item_id}"


@lru_cache(maxsize=1)
def _manager() -> Any:
    # Only ever given the caller's connection: the connector's own pool is never opened.
    from procrastinate import App, PsycopgConnector

    return App(connector=PsycopgConnector()).job_manager


def defer(conn: Connection, item_ids: Sequence[int]) -> int:
    """Enqueue one advance job per item on the caller's connection, inside its transaction; how many."""
    from procrastinate.jobs import Job

    raw = conn.connection.driver_connection
    jobs = [Job(queue=QUEUE, lock=lock_of(i), queueing_lock=None, task_name=TASK, task_kwargs={"item_id": int(i)})
            for i in item_ids]
    for start in range(0, len(jobs), BATCH):
        _manager().batch_defer_jobs(jobs[start:start + BATCH], connection=raw)
    return len(jobs)


# Jobs still to run or running, by item: a rerun of `run --enqueue` does not queue an item twice.
WAITING_SQL = ("SELECT DISTINCT (args->>'item_id')::bigint AS item_id FROM procrastinate_jobs"
               " WHERE task_name = :task AND status IN ('todo', 'doing')")
# Jobs by state, and the workers that sent a heartbeat lately (procrastinate's own tables).
JOB_COUNTS_SQL = "SELECT status::text AS status, COUNT(*) AS n FROM procrastinate_jobs WHERE task_name = :task GROUP BY 1"
WORKERS_SQL = ("SELECT id, last_heartbeat FROM procrastinate_workers"
               " WHERE last_heartbeat > now() - make_interval(secs => :seconds) ORDER BY id")
