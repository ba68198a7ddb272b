"""`firstpass worker --processes N`: one command that runs N worker processes, each pinned to its own CPU.

Each process is a whole `firstpass worker` (its own job-queue connection, pools and checkpointer), so nothing is
shared but the database, exactly as with workers on different machines. The parent forwards SIGTERM and Ctrl-C
to them once, so they drain: items in flight finish, nothing new is taken. If one dies on its own, the parent
drains the others and exits non-zero, so that a service manager restarts the whole worker; the dead one's jobs
go back to the queue after `FIRSTPASS_WORKER_STALLED_AFTER` seconds, as for any dead worker. Children get
SIGTERM if the parent is killed, so none is left running unattended.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

from firstpass.terminal import complain

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """What a child runs between fork and exec so that Linux sends it SIGTERM when the parent goes, even by SIGKILL;
    None where there is no prctl (the children then outlive a killed parent, as plain workers would)."""
    try:
        # Looked up here, in the parent: the child, forked from a process with threads, should only make the call.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def worker_command(cpu: int, concurrency: int, policy: str | None) -> list[str]:
    """The command line of one child worker: this interpreter, pinned to `cpu`."""
    cmd = [sys.executable, "-m", "firstpass.cli", "worker", "--concurrency", str(concurrency), "--cpu", str(cpu)]
    return cmd + (["--policy", policy] if policy else [])


def supervise(commands: Sequence[Sequence[str]], poll: float = 0.2) -> int:
    """Run the worker `commands` until SIGTERM or Ctrl-C (drained), or until one exits on its own (the others are
    drained); 0 when every child stopped cleanly after a signal, else the first non-zero exit status."""
    follow = _die_with_parent()
    children = [subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=follow) for cmd in commands]
    stopping = False
    failed = 0

    def drain(_signum: int = 0, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        if stopping:
            return  # one signal each: a second SIGTERM would make procrastinate abort the jobs in flight
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, drain) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(child.poll() is None for child in children):
            for k, child in enumerate(children):
                if child.returncode is not None and not stopping:
                    complain(f"worker process {k + 1} (pid {child.pid}) exited with status {child.returncode}; "
                             "draining the others")
                    failed = child.returncode if child.returncode > 0 else 1
                    drain()
            time.sleep(poll)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if failed:
        return failed
    return next((child.returncode for child in children if child.returncode), 0)
