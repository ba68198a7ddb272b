"""Engines for the one database: SQLite (the embedded default) tuned for many small writes from several threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file gets WAL, a write lock per process and BEGIN IMMEDIATE for writes."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30.0},
                           pool_size=8, max_overflow=64)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling defers BEGIN; we emit BEGIN ourselves (see _begin).
        dbapi_connection.isolation_level = None
        use_wal(dbapi_connection)
        # WAL with synchronous=NORMAL stays consistent on a crash and does not fsync every commit.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A writer takes the database lock up front, so it waits for it instead of failing when it would
        # have to upgrade a stale read snapshot.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def use_wal(dbapi_connection: Any) -> None:
    """Put a SQLite file in WAL mode, once: changing the mode needs an exclusive lock that another process may hold
    (and SQLite does not wait for it), so a connection to a file already in WAL leaves the mode alone."""
    mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        for _ in range(300):
            try:
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                time.sleep(0.1)
        dbapi_connection.execute("PRAGMA journal_mode=WAL")


class WriteLock:
    """Serialises a process's SQLite writers (cheaper than SQLite's busy-wait); a no-op for other databases."""

    def __init__(self, engine: Engine) -> None:
        """A lock for writers on `engine`."""
        self._lock: threading.Lock | None = threading.Lock() if engine.dialect.name == "sqlite" else None

    def __enter__(self) -> None:
        """Take the lock."""
        if self._lock is not None:
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        """Release the lock."""
        if self._lock is not None:
            self._lock.release()
