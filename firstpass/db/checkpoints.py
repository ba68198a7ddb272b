"""LangGraph's checkpointer, beside the app's tables in the same database: SqliteSaver on the embedded file,
PostgresSaver on a shared PostgreSQL database (one per process, over its own small psycopg pool)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from firstpass.db.engine import PgOptions, libpq_url, use_wal
from firstpass.db.store import Store

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver

# The checkpoints saved inside a `recording_saves` block, by thread; LangGraph saves on its background threads, which
# run in a copy of the caller's context, so they fill the caller's dict.
_SAVED: ContextVar[dict[str, str] | None] = ContextVar("firstpass_saved_checkpoints", default=None)


@contextmanager
def recording_saves() -> Iterator[dict[str, str]]:
    """Within the block, note the id of the last checkpoint saved for each thread (saves reading it back after)."""
    saved: dict[str, str] = {}
    token = _SAVED.set(saved)
    try:
        yield saved
    finally:
        _SAVED.reset(token)


def _note(config: Any) -> Any:
    saved, configurable = _SAVED.get(), config.get("configurable") or {}
    if saved is not None and configurable.get("checkpoint_id"):
        saved[str(configurable["thread_id"])] = str(configurable["checkpoint_id"])
    return config


class _RecordingSqliteSaver(SqliteSaver):
    """SqliteSaver that tells a `recording_saves` block what it saved."""

    def put(self, *args: Any, **kwargs: Any) -> Any:
        """Save a checkpoint (SqliteSaver.put) and note its id."""
        return _note(super().put(*args, **kwargs))


class _NoLock:
    """Stands in for PostgresSaver's process-wide lock: over a pool every call has a connection of its own."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def open_pool(url: str, pg: PgOptions, name: str, max_size: int | None = None) -> Any:
    """A psycopg pool for `url` with the settings' prepare threshold, a health check on checkout and a bounded
    connection life; autocommit with dict rows, as LangGraph's PostgresSaver needs them."""
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        libpq_url(url), min_size=1, max_size=max_size or pg.pool_size, name=name, open=True,
        timeout=pg.connect_timeout, max_lifetime=pg.max_lifetime, check=ConnectionPool.check_connection,
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": pg.prepare_threshold},
    )


def _postgres_saver(pool: Any) -> PostgresSaver:
    from langgraph.checkpoint.postgres import PostgresSaver

    class _RecordingPostgresSaver(PostgresSaver):
        """PostgresSaver that tells a `recording_saves` block what it saved."""

        def put(self, *args: Any, **kwargs: Any) -> Any:
            """Save a checkpoint (PostgresSaver.put) and note its id."""
            return _note(super().put(*args, **kwargs))

    saver = _RecordingPostgresSaver(pool)
    # No pipeline mode: a transaction per write works through PgBouncer and every proxy; and no process-wide lock,
    # which would let one of a worker's 64 threads write a checkpoint at a time.
    saver.supports_pipeline = False
    saver.lock = _NoLock()  # type: ignore[assignment]
    return saver


def open_checkpointer(store: Store) -> BaseCheckpointSaver[Any]:
    """The checkpointer for the store's database: SqliteSaver on its file (tables set up), with its own connection;
    PostgresSaver over a small pool of its own (its tables come from `firstpass db upgrade`)."""
    if store.postgres:
        return _postgres_saver(open_pool(store.url, store.pg, "firstpass-checkpoints"))
    if store.path is None:
        raise ValueError(f"the checkpointer needs a SQLite file or PostgreSQL, not {store.url}")
    conn = sqlite3.connect(str(store.path), check_same_thread=False, timeout=30.0, isolation_level=None)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = _RecordingSqliteSaver(conn)
    saver.setup()
    return saver


def close_checkpointer(saver: BaseCheckpointSaver[Any]) -> None:
    """Close the checkpointer's connection or pool."""
    conn = getattr(saver, "conn", None)
    if conn is not None:
        conn.close()


@contextmanager
def checkpointer_for(store: Store) -> Iterator[BaseCheckpointSaver[Any]]:
    """A checkpointer on the store's database, closed on exit."""
    saver = open_checkpointer(store)
    try:
        yield saver
    finally:
        close_checkpointer(saver)


def setup_postgres_checkpoints(url: str, pg: PgOptions) -> None:
    """Create or migrate LangGraph's checkpoint tables in a PostgreSQL database (PostgresSaver.setup)."""
    pool = open_pool(url, pg, "firstpass-setup", max_size=1)
    try:
        _postgres_saver(pool).setup()
    finally:
        pool.close()


def prune_threads(saver: BaseCheckpointSaver[Any], thread_ids: Iterable[str]) -> None:
    """Delete every checkpoint, write and blob of the given threads."""
    ids = list(thread_ids)
    if not ids:
        return
    try:
        saver.prune(ids, strategy="delete")  # one transaction for the batch (PostgresSaver)
        return
    except NotImplementedError:
        pass  # SqliteSaver deletes a thread at a time
    for thread in ids:
        saver.delete_thread(thread)
