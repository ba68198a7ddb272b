"""Ctrl-C and a hard crash in the middle of `firstpass run`: the rerun continues and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from firstpass.settings import load_settings
from firstpass.stores import open_store


def start_stub(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("stubserver.py")), "--delay", str(delay)],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()  # type: ignore[union-attr]


def write_csv(path: Path, n: int) -> Path:
    path.write_text("Company,First Name,Notes\n" + "".join(f"Company {i},Name{i},Opened office {i}\n" for i in range(n)))
    return path


def run_cli(csv: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "firstpass.cli", "run", str(csv), "--run", "r",
                             "--concurrency", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_done(n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = open_store(load_settings()).query(
                "SELECT COUNT(*) AS n FROM items WHERE status = 'auto_approved'")
            if rows[0]["n"] >= n:
                return
        except Exception:  # noqa: BLE001 - the database may not exist yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} items finished in {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_rerun_after_interrupt_or_crash(sig: signal.Signals, home: Path, tmp_path: Path) -> None:
    stub, url = start_stub(delay=0.1)
    env = {**os.environ, "FIRSTPASS_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    for role in ("DRAFTER", "CRITIC"):
        env[f"FIRSTPASS_{role}_BASE_URL"], env[f"FIRSTPASS_{role}_MODEL"] = url, "stub"
    csv = write_csv(tmp_path / "p.csv", 40)
    try:
        first = run_cli(csv, env)
        wait_for_done(4)
        first.send_signal(sig)
        out, err = first.communicate(timeout=30)
        store = open_store(load_settings())
        done_before = {i.prospect.company for i in store.items(run="r", status="auto_approved")}
        assert 4 <= len(done_before) < 40
        if sig == signal.SIGINT:
            assert first.returncode == 130 and "run the same command again" in out + err
        second = run_cli(csv, env)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
    finally:
        stub.terminate()
        stub.wait()
    store = open_store(load_settings())
    assert store.counts("r") == {"auto_approved": 40}
    rows = store.query("SELECT prompt_json FROM llm_calls WHERE role = 'drafter'")
    drafted = Counter(json.loads(r["prompt_json"])["messages"][-1]["content"].split("\n")[0].removeprefix("Company: ")
                      for r in rows)
    assert len(drafted) == 40
    # Items finished before the stop were not drafted again.
    assert all(drafted[company] == 1 for company in done_before)
