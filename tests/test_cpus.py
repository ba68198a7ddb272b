"""Pinning a worker to a CPU, and spreading worker processes over the usable CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firstpass import cpus
from firstpass.cli import main

pytestmark = pytest.mark.sqlite("no database: the same on either backend")


def test_usable_is_the_affinity_mask_and_spread_takes_each_cpu_before_any_twice() -> None:
    allowed = cpus.usable()
    assert allowed == sorted(os.sched_getaffinity(0))
    placed = cpus.spread(2 * len(allowed) + 1)
    assert placed[: len(allowed)] == allowed  # every core once before any core twice
    assert placed[len(allowed): 2 * len(allowed)] == allowed and placed[-1] == allowed[0]


def test_pin_narrows_the_process_to_one_cpu() -> None:
    # In a child, so the test process keeps all its cores.
    last = cpus.usable()[-1]
    out = subprocess.run([sys.executable, "-c", "import os; from firstpass import cpus; "
                          f"cpus.pin({last}); print(sorted(os.sched_getaffinity(0)))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"[{last}]"


def test_pin_covers_threads_started_before_it_and_programs_started_unpinned_get_every_cpu_back() -> None:
    # The embedded model servers are started unpinned: llama.cpp should not share the worker's one core.
    allowed = cpus.usable()
    script = textwrap.dedent(f"""
        import os, subprocess, threading
        from firstpass import cpus
        stop = threading.Event()
        early = threading.Thread(target=stop.wait)
        early.start()
        cpus.pin({allowed[-1]})
        with cpus.unpinned():
            child = subprocess.Popen(["sleep", "5"])
        print(sorted(os.sched_getaffinity(child.pid)), sorted(os.sched_getaffinity(0)),
              sorted(os.sched_getaffinity(early.native_id)))
        child.kill()
        stop.set()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{allowed} [{allowed[-1]}] [{allowed[-1]}]"


def test_unpinned_changes_nothing_in_a_process_never_pinned() -> None:
    before = os.sched_getaffinity(0)
    with cpus.unpinned():
        assert os.sched_getaffinity(0) == before
    assert os.sched_getaffinity(0) == before


def test_a_cpu_the_process_may_not_use_is_refused_naming_those_it_may() -> None:
    allowed = cpus.usable()
    with pytest.raises(cpus.CpuError, match=rf"--cpu {allowed[-1] + 1}: this process may run on CPU ") as err:
        cpus.pin(allowed[-1] + 1)
    assert str(allowed[0]) in str(err.value)
    assert os.sched_getaffinity(0) == set(allowed)  # untouched


def test_cpu_ranges_are_written_compactly() -> None:
    assert cpus._ranges([0, 1, 2, 3]) == "0-3"
    assert cpus._ranges([0, 2, 3, 4, 7]) == "0, 2-4, 7"
    assert cpus._ranges([5]) == "5"


def test_worker_refuses_bad_processes_and_cpu_before_touching_the_database(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--processes", "0"]) == 2
    assert "--processes 0: give a number of processes of at least 1, or 'auto'" in capsys.readouterr().err
    assert main(["worker", "--processes", "2", "--cpu", "0"]) == 2
    assert "--cpu pins one process" in capsys.readouterr().err
    assert main(["worker", "--cpu", str(cpus.usable()[-1] + 1)]) == 2
    assert "this process may run on CPU" in capsys.readouterr().err
    assert not (home / "firstpass.db").exists()
