"""The CPUs a worker may use, and pinning it to one.

A worker is one Python process: it runs Python on one core at a time however many items it has in flight. Left
to move, its threads hand the interpreter lock from core to core at every model call and database round trip,
and on a 2-core machine that cost a third of its CPU (`make bench`: 20.8 ms of CPU per item, 13.6 pinned).
Pinned to one core, the handover stays on that core. A machine's cores are used by more processes, one per core.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The CPUs the process could use before `pin`: what the programs it starts (the embedded model servers, which
# use every core they may) get back.
_before_pin: set[int] | None = None


class CpuError(ValueError):
    """A CPU this process may not run on, or a system that cannot pin a process."""


def usable() -> list[int]:
    """The CPUs this process may run on (its affinity mask, which a container or `taskset` may narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin(cpu: int) -> None:
    """Run this process (all its threads, and any it starts later) on `cpu` only."""
    if not hasattr(os, "sched_setaffinity"):
        raise CpuError("--cpu needs Linux (this system cannot pin a process to a CPU)")
    allowed = usable()
    if cpu not in allowed:
        raise CpuError(f"--cpu {cpu}: this process may run on CPU {_ranges(allowed)} only")
    global _before_pin
    _before_pin = _before_pin or set(allowed)
    # On Linux the mask is a thread's: set it on every thread there is (an imported library may have started
    # some); threads started later inherit it from the one that starts them.
    tasks = Path("/proc/self/task")
    for tid in [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]:
        try:
            os.sched_setaffinity(tid, {cpu})
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


@contextmanager
def unpinned() -> Iterator[None]:
    """Within the block, this thread may run on every CPU the process had before `pin`, and so may any program it
    starts (a child inherits its parent thread's mask); other threads stay pinned."""
    if _before_pin is None:
        yield
        return
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, _before_pin)
    try:
        yield
    finally:
        os.sched_setaffinity(0, pinned)


def spread(processes: int) -> list[int]:
    """A CPU for each of `processes` worker processes: the usable CPUs in turn, so no core gets two before every
    core has one."""
    allowed = usable()
    return [allowed[k % len(allowed)] for k in range(processes)]


def _ranges(cpus: list[int]) -> str:
    parts: list[str] = []
    start = prev = cpus[0]
    for cpu in [*cpus[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ", ".join(parts)
