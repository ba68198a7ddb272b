"""Engines for the one database: SQLite (the embedded default) tuned for many small writes from several threads, or
PostgreSQL (the shared store of many processes) through psycopg 3 with the team's pool settings."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class PgOptions:
    """How a process connects to PostgreSQL: its pools' size, prepared statements and connection lifetime."""

    pool_size: int = 6
    # psycopg prepares a statement after this many runs; None never prepares (PgBouncer in transaction mode).
    prepare_threshold: int | None = 5
    max_lifetime: float = 3600.0
    connect_timeout: float = 10.0


def is_postgres(url: str) -> bool:
    """Whether `url` names a PostgreSQL database."""
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL of a database: a plain postgresql:// URL gets the psycopg 3 driver (the one installed)."""
    if is_postgres(url) and "+" not in url.split("://", 1)[0]:
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def libpq_url(url: str) -> str:
    """The libpq connection string of a PostgreSQL URL (no SQLAlchemy driver name), for psycopg's own pools."""
    return "postgresql://" + url.split("://", 1)[1]


def make_engine(url: str, pg: PgOptions | None = None) -> Engine:
    """An engine for `url`; a SQLite file gets WAL, a write lock per process and BEGIN IMMEDIATE for writes."""
    if not url.startswith("sqlite"):
        pg = pg or PgOptions()
        # pre-ping drops connections a restart or a proxy closed; recycle bounds a connection's life like the pools'.
        # No overflow: a process holds at most pool_size connections for its tables (threads wait their turn; every
        # transaction is short), so many workers fit under the server's max_connections.
        return create_engine(sqlalchemy_url(url), pool_pre_ping=True, pool_recycle=int(pg.max_lifetime),
                             pool_size=pg.pool_size, max_overflow=0, pool_timeout=pg.connect_timeout * 3,
                             connect_args={"prepare_threshold": pg.prepare_threshold,
                                           "connect_timeout": int(pg.connect_timeout)})
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
