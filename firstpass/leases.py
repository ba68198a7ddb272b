"""Who this process is, and a keeper that renews the leases it holds while slow work (a model call) runs."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from firstpass.db import Lease, Store

HOST = socket.gethostname()


def process_owner(role: str = "worker") -> str:
    """A lease owner name unique to this process: role, host, pid and a random part."""
    return f"{role}:{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_owners(owners: Iterable[str | None]) -> list[str]:
    """The owners among `owners` that were processes on this machine that no longer run."""
    dead = []
    for owner in owners:
        parts = (owner or "").split(":")
        if len(parts) != 4 or parts[1] != HOST or not parts[2].isdigit():
            continue
        try:
            os.kill(int(parts[2]), 0)
        except ProcessLookupError:
            dead.append(owner or "")
        except PermissionError:
            pass  # alive, someone else's
    return dead


class LeaseKeeper:
    """Renews the held leases every third of their length on a background thread, so a slow call keeps its item."""

    def __init__(self, store: Store, seconds: float) -> None:
        """Keep leases of `seconds` on `store` alive while they are held."""
        self.store, self.seconds = store, seconds
        self._held: dict[int, Lease] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def hold(self, lease: Lease) -> Iterator[Lease]:
        """Renew `lease` until the block ends."""
        with self._lock:
            self._held[lease.item_id] = lease
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="firstpass-leases", daemon=True)
                self._thread.start()
        try:
            yield lease
        finally:
            with self._lock:
                if self._held.get(lease.item_id) is lease:
                    del self._held[lease.item_id]

    def _run(self) -> None:
        while not self._wake.wait(self.seconds / 3):
            with self._lock:
                held = list(self._held.values())
            if held:
                try:
                    self.store.renew_leases(held, self.seconds)
                except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease outlives one tick
                    continue

    def close(self) -> None:
        """Stop renewing."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
