"""A throwaway PostgreSQL cluster for the storage tests: Debian's server binaries (`make postgres`), started as the
`postgres` user (the server refuses to run as root) on 127.0.0.1 and a free port, removed afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make postgres` (Debian's postgresql)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> subprocess.CompletedProcess[str]:
    command = args if os.geteuid() != 0 else ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@contextmanager
def cluster() -> Iterator[str]:
    """Start a cluster; yields the SQLAlchemy URL of its `postgres` database (trust auth on 127.0.0.1)."""
    root = Path(tempfile.mkdtemp(prefix="fp-pg-"))
    os.chmod(root, 0o777)
    data, port = root / "data", _free_port()
    try:
        done = _as_postgres([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr[-500:]}")
        # -F: no fsync, a throwaway cluster; room for the benchmark's four workers and the tests' processes.
        options = f"'-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=300'"
        done = _as_postgres([_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"])
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-500:]} {(root / 'log').read_text()[-500:]}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str, template: str | None = None) -> str:
    """Create an empty database `name` in the cluster at `url` (a copy of `template`, if given); its URL."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return url.rsplit("/", 1)[0] + f"/{name}"
