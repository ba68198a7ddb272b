"""LangGraph's checkpointer, beside the app's tables in the same database file."""

from __future__ import annotations

import sqlite3

from langgraph.checkpoint.sqlite import SqliteSaver

from firstpass.db.engine import use_wal
from firstpass.db.store import Store


def open_checkpointer(store: Store) -> SqliteSaver:
    """A SqliteSaver on the store's file (its tables set up), with its own connection."""
    if store.path is None:
        raise ValueError(f"the SQLite checkpointer needs a SQLite database, not {store.url}")
    conn = sqlite3.connect(str(store.path), check_same_thread=False, timeout=30.0, isolation_level=None)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def close_checkpointer(saver: SqliteSaver) -> None:
    """Close the checkpointer's connection."""
    saver.conn.close()
