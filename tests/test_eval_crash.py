"""An eval run killed with SIGKILL at random points resumes, each time, the one unfinished run, and ends with every
job stored once and the same report as a run that was never stopped."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firstpass.cli import main
from firstpass.db import Store
from firstpass.settings import load_settings

from tests.conftest import DEV_SET
from tests.test_cli import serve_stub

COMMAND = [sys.executable, "-c", "import sys; from firstpass.cli import main; sys.exit(main(sys.argv[1:]))",
           "eval", "run", "--drafter-prompt", "drafter-v1", "--few-shot", "2", "--concurrency", "4"]


@pytest.fixture
def slow_stub(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from serve_stub(monkeypatch, delay=0.03)


def _stored(store: Store) -> list[tuple[str, str, str, int]]:
    return [tuple(r.values()) for r in store.query(  # type: ignore[misc]
        "SELECT kind, case_key, variant, repeat FROM eval_results ORDER BY kind, case_key, variant, repeat")]


def test_killed_eval_runs_resume_to_the_report_of_an_unbroken_run(slow_stub: str, home: Path) -> None:
    assert main(["eval", "import", str(DEV_SET)]) == 0
    store = Store(load_settings().database)
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        # Killed once a random number of further jobs is stored: at random points of the run, whatever the speed.
        target = len(_stored(store)) + rng.randint(1, 15)
        proc = subprocess.Popen(COMMAND, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        while proc.poll() is None and len(_stored(store)) < target:
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "the run finished before it could be killed: slow the stub down"
    runs = store.eval_runs.runs()
    assert len(runs) == 1 and runs[0]["finished_at"] is None  # every restart resumed the same run
    partial = len(_stored(store))
    finished = subprocess.run(COMMAND, capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"resumed eval run {runs[0]['id']}: {partial} finished job(s) reused" in finished.stdout
    stored = _stored(store)
    assert len(stored) == len(set(stored))  # no job twice
    (done,) = store.eval_runs.runs()
    report = done["report"]
    tests = sum(1 for c in store.eval_cases() if c["split"] == "test")
    assert len(stored) == 2 * tests + 60 and 0 < partial < len(stored)  # the kills fell inside the run
    # An unbroken run of the same command on the same cases gives the same figures.
    clean = subprocess.run(COMMAND, capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert clean.returncode == 0, clean.stderr
    again = store.eval_runs.runs()[0]["report"]
    for part in ("drafter", "critic"):
        for key in ("confusion", "baseline", "candidate", "verdict", "paired"):
            if key in report[part]:
                assert report[part][key] == again[part][key]
    store.close()
