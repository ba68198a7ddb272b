"""Several processes on one database: two batch runs share a run without drafting twice, and decisions survive
kill -9 at random points with the item, its audit rows and its eval cases in agreement."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from test_resume import run_cli, start_stub, write_csv

from firstpass.db import Store
from firstpass.session import Models, build_app
from firstpass.settings import load_settings
from firstpass.stores import open_store
from graph.human import Decision

from fakes import FakeCritic, FakeDrafter
from tests.conftest import load_items, prospect

HERE = Path(__file__).resolve().parent


def test_two_runs_of_one_file_draft_every_item_once(home: Path, tmp_path: Path) -> None:
    stub, url = start_stub(delay=0.05)
    env = {**os.environ, "FIRSTPASS_HOME": str(home), "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    for role in ("DRAFTER", "CRITIC"):
        env[f"FIRSTPASS_{role}_BASE_URL"], env[f"FIRSTPASS_{role}_MODEL"] = url, "stub"
    csv = write_csv(tmp_path / "p.csv", 60)
    try:
        runs = [run_cli(csv, env) for _ in range(2)]
        outputs = [r.communicate(timeout=120) for r in runs]
    finally:
        stub.terminate()
        stub.wait()
    assert [r.returncode for r in runs] == [0, 0], outputs
    store = open_store(load_settings())
    assert store.counts("r") == {"auto_approved": 60}
    rows = store.query("SELECT prompt_json FROM llm_calls WHERE role = 'drafter'")
    drafted = Counter(json.loads(r["prompt_json"])["messages"][-1]["content"].split("\n")[0] for r in rows)
    assert len(drafted) == 60 and set(drafted.values()) == {1}  # every item drafted exactly once
    items = store.items(run="r")
    store.close()
    app = build_app(load_settings(), Models(FakeDrafter("unused"), FakeCritic()))
    try:
        for item in items:  # what the item shows is what its checkpoint holds
            state = app.graph.get_state({"configurable": {"thread_id": item.thread_id,
                                                          "checkpoint_id": item.checkpoint_id}})
            assert (state.values["draft"], state.values["final_line"]) == (item.draft, item.final_line)
    finally:
        app.close()


def _flagged_line(messages: list[dict[str, str]]) -> str:
    company = messages[-1]["content"].split("Company: ", 1)[1].split("\n", 1)[0]
    return f"Hey {{first_name}}, {company} is AMAZING!!"


def _check(store: Store, first_drafts: dict[int, str]) -> None:
    """Every item agrees with its audit rows, and every audit row with its eval case."""
    audit = store.query("SELECT id, item_id, action, status_after, original_line FROM audit_log ORDER BY id")
    case_rows = store.query("SELECT audit_id, case_key FROM eval_cases")
    cases = Counter(r["audit_id"] for r in case_rows)
    keys = Counter(r["case_key"] for r in case_rows)
    by_item: dict[int, list[dict[str, object]]] = {}
    for row in audit:
        by_item.setdefault(row["item_id"], []).append(dict(row))
        # Every line was flagged, so every decision overrode the gate: one eval case each, except where the same
        # prospect and AI line was already a case (a regenerate that drew the same line again): stored once.
        assert cases[row["id"]] <= 1, row
    assert all(n == 1 for n in keys.values())  # no case twice
    overridden = {(r["item_id"], r["original_line"]) for r in audit}
    assert len(case_rows) == len(overridden)  # and every distinct override has its case
    for item in store.items(run="crash"):
        rows = by_item.get(item.id, [])
        if not rows:
            assert (item.status, item.rounds, item.draft) == ("review", 0, first_drafts[item.id]), item
            continue
        assert rows[-1]["status_after"] == item.status, (item, rows)
        assert item.rounds == sum(r["action"] == "regenerate" for r in rows)
        decided = [r for r in rows if r["status_after"] in ("approved", "rejected", "auto_approved")]
        assert len(decided) <= 1 and (not decided or decided[0] is rows[-1]), rows


def test_decisions_survive_kill_9_at_random_points(home: Path) -> None:
    settings = load_settings()
    app = build_app(settings, Models(FakeDrafter(_flagged_line), FakeCritic()))
    load_items(app, "crash", [prospect(i, company=f"Company {i:03d}{'x' * (i % 2)}") for i in range(300)])
    first_drafts = {i.id: i.draft or "" for i in (app.process(item) for item in app.store.items(run="crash"))}
    assert app.store.counts("crash") == {"review": 300}
    app.close()
    rng = random.Random(7)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for seed in range(10):
        proc = subprocess.Popen([sys.executable, str(HERE / "crash_decider.py"), str(home), str(seed)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
        time.sleep(rng.uniform(0.05, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
        store = open_store(settings)
        _check(store, first_drafts)
        store.close()
    assert kills >= 5
    # The items the killed processes held are taken over at once (their processes are gone), and decided.
    app = build_app(settings, Models(FakeDrafter(_flagged_line), FakeCritic()))
    try:
        for item in app.store.items(run="crash", status="review"):
            app.decide(item.id, Decision(action="reject", reviewer="final", categories=["spammy"]))
        assert set(app.store.counts("crash")) <= {"approved", "rejected", "auto_approved"}
        _check(app.store, first_drafts)
    finally:
        app.close()
