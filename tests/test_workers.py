"""Scale-out on PostgreSQL: `db upgrade`, workers taking jobs from the queue, one writer per thread (fencing), a
worker killed mid-item, SIGTERM draining, two panels on one database, status and checkpoint retention."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from test_resume import start_stub, write_csv

from critics.policy import load_policy
from firstpass import cpus
from firstpass.cli import main
from firstpass.db import DatabaseNotReadyError, Store, migrate
from firstpass.db.engine import make_engine
from firstpass.service import DecisionError, Firstpass
from firstpass.session import Models, build_app
from firstpass.settings import load_settings
from graph.human import Decision

from fakes import FakeCritic, FakeDrafter
from pgcluster import fresh_database
from tests.conftest import good_line, load_items, new_pg_database, prospect

FP = [sys.executable, "-m", "firstpass.cli"]


@pytest.fixture
def pg(pg_cluster: str) -> str:
    """A fresh PostgreSQL database at the newest migration."""
    return new_pg_database(pg_cluster)


@pytest.fixture
def stub() -> Iterator[str]:
    """A stub model server answering after 0.4 s (long enough to kill a worker mid-item)."""
    proc, url = start_stub(delay=0.4)
    yield url
    proc.terminate()
    proc.wait()


def _env(home: Path, database: str, stub_url: str, shadow: bool = False) -> dict[str, str]:
    env = {**os.environ, "FIRSTPASS_HOME": str(home), "FIRSTPASS_DATABASE_URL": database, "PYTHONUNBUFFERED": "1",
           "TQDM_DISABLE": "1", "FIRSTPASS_WORKER_HEARTBEAT": "0.5", "FIRSTPASS_WORKER_STALLED_AFTER": "2"}
    for role in ("DRAFTER", "CRITIC"):
        env[f"FIRSTPASS_{role}_BASE_URL"], env[f"FIRSTPASS_{role}_MODEL"] = stub_url, "stub"
    if shadow:  # every line goes to a human: items to decide
        home.mkdir(parents=True, exist_ok=True)
        (home / "policy.toml").write_text("[route]\nshadow = true\n")
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FP, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def _worker(env: dict[str, str], concurrency: int = 8) -> subprocess.Popen[str]:
    return subprocess.Popen([*FP, "worker", "--concurrency", str(concurrency)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait(what: Callable[[], bool], timeout: float = 60, why: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting: {why}")


def _one(store: Store, sql: str, **args: object) -> int:
    return int(store.query(sql, args)[0]["n"])


def _drafts_per_thread(store: Store) -> Counter[str]:
    return Counter(str(r["thread"]) for r in store.query("SELECT thread FROM llm_calls WHERE role = 'drafter'"))


# db upgrade ---------------------------------------------------------------------------------------------


def _previous_version(url: str) -> None:
    """The database as the previous firstpass left it: migrations up to 0011, with a run, an item, an audit row."""
    engine = make_engine(url)
    config = migrate._config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0011_canaries")
        conn.commit()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (name, created_at) VALUES ('old', 1)"))
        conn.execute(text("INSERT INTO items (run, prospect_id, prospect_json, status, created_at, updated_at)"
                          " VALUES ('old', 'p1', '{\"id\": \"p1\", \"first_name\": \"Ana\", \"company\": \"Acme\"}',"
                          " 'review', 1, 1)"))
    engine.dispose()


def test_db_upgrade_on_an_empty_database_and_on_the_previous_version(
        pg_cluster: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    empty = fresh_database(pg_cluster, f"fp_empty_{os.getpid()}")
    old = fresh_database(pg_cluster, f"fp_old_{os.getpid()}")
    _previous_version(old)
    with pytest.raises(DatabaseNotReadyError, match="firstpass db upgrade"):
        Store(old)  # a worker never migrates at start
    for url in (empty, old):
        monkeypatch.setenv("FIRSTPASS_DATABASE_URL", url)
        assert main(["db", "upgrade"]) == 0
        assert "upgraded to 0012_workers" in capsys.readouterr().out
        assert main(["db", "upgrade"]) == 0 and "already at" in capsys.readouterr().out
        store = Store(url)
        tables = {r["t"] for r in store.query("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'")}
        assert {"checkpoints", "checkpoint_writes", "procrastinate_jobs", "items", "audit_log"} <= tables
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_head"))
        store.close()
    store = Store(old)
    assert [(i.prospect.company, i.status) for i in store.items(run="old")] == [("Acme", "review")]
    store.close()


# one writer per thread ------------------------------------------------------------------------------------


class GatedDrafter(FakeDrafter):
    """A drafter that waits for a gate before answering, so a test can act while a worker is mid-item."""

    def __init__(self) -> None:
        super().__init__(good_line)
        self.entered, self.gate = threading.Event(), threading.Event()

    def complete(self, messages: list[dict[str, str]]) -> str:
        self.entered.set()
        assert self.gate.wait(30)
        return super().complete(messages)


def test_two_workers_and_one_item_never_both_save(pg: str, home: Path) -> None:
    settings = load_settings({"FIRSTPASS_HOME": str(home), "FIRSTPASS_DATABASE_URL": pg})
    slow = GatedDrafter()
    a = build_app(settings, Models(slow, FakeCritic()), load_policy())
    b = build_app(settings, Models(FakeDrafter(good_line), FakeCritic()), load_policy())
    try:
        load_items(a, "r", [prospect(0)])
        (item,) = a.store.items(run="r")
        first = threading.Thread(target=a.process, args=(item,))
        first.start()
        assert slow.entered.wait(10)
        assert b.process(b.store.item(item.id)).lease_owner == a.owner  # a live lease: b leaves it alone
        # a's lease runs out (its machine stalls): b takes the item over, with a higher fencing token, and saves.
        b.store.reset_item(item.id, lease_expires=0.0)
        taken = b.process(b.store.item(item.id))
        assert taken.status == "auto_approved" and taken.lease_owner is None
        slow.gate.set()
        first.join(10)
        after = a.store.item(item.id)
        assert after.checkpoint_id == taken.checkpoint_id and after.lease_token == taken.lease_token
        assert after.updated_at == taken.updated_at  # a's late result was discarded, not saved over b's
        # ...but the model calls it made were real: both workers' calls are in the log, with their thread.
        assert _drafts_per_thread(a.store)[item.thread_id] == 2
    finally:
        slow.gate.set()
        a.close()
        b.close()


# workers --------------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_item_leaves_it_to_another_exactly_once(pg: str, home: Path, tmp_path: Path,
                                                                   stub: str) -> None:
    env = _env(home, pg, stub)
    loaded = _cli(env, "run", str(write_csv(tmp_path / "p.csv", 12)), "--run", "r", "--enqueue")
    assert loaded.returncode == 0 and "12 job(s) queued" in loaded.stderr, loaded.stderr
    store = Store(pg)
    doomed = _worker(env, concurrency=12)
    try:
        _wait(lambda: _one(store, "SELECT COUNT(*) AS n FROM items WHERE lease_owner LIKE 'worker:%'") >= 6,
              why="the first worker to take items")
        time.sleep(0.2)  # mid-item: drafted or at the critic, nothing saved
        running = _one(store, "SELECT COUNT(*) AS n FROM items WHERE status = 'queued' AND lease_owner IS NOT NULL")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        assert running >= 6
        survivor = _worker(env, concurrency=12)
        try:
            _wait(lambda: store.counts("r") == {"auto_approved": 12}, timeout=90, why="the survivor to finish")
        finally:
            survivor.terminate()
            survivor.wait(30)
        drafts = _drafts_per_thread(store)
        assert len(drafts) == 12 and max(drafts.values()) <= 2  # at most one redraft of an item
        assert sum(drafts.values()) <= 12 + running
        assert _one(store, "SELECT COUNT(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')") == 0
        assert _one(store, "SELECT COUNT(*) AS n FROM items WHERE lease_owner IS NOT NULL") == 0
    finally:
        if doomed.poll() is None:
            doomed.kill()
        store.close()


def test_sigterm_drains_the_items_in_flight_and_takes_no_more(pg: str, home: Path, tmp_path: Path, stub: str) -> None:
    env = _env(home, pg, stub)
    assert _cli(env, "run", str(write_csv(tmp_path / "p.csv", 30)), "--run", "r", "--enqueue").returncode == 0
    store = Store(pg)
    worker = _worker(env, concurrency=4)
    try:
        _wait(lambda: _one(store, "SELECT COUNT(*) AS n FROM items WHERE lease_owner IS NOT NULL") >= 4,
              why="the worker to take items")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        counts = store.counts("r")
        assert 4 <= counts.get("auto_approved", 0) < 30 and counts.get("queued", 0) > 0, counts
        assert _one(store, "SELECT COUNT(*) AS n FROM items WHERE lease_owner IS NOT NULL") == 0  # none left mid-way
        left = _one(store, "SELECT COUNT(*) AS n FROM procrastinate_jobs WHERE status = 'todo'")
        assert left == counts["queued"]  # the rest wait for the next worker
        assert "worker stopped: auto_approved" in worker.stderr.read()  # type: ignore[union-attr]
    finally:
        if worker.poll() is None:
            worker.kill()
        store.close()


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _processes(env: dict[str, str], n: int, concurrency: int) -> subprocess.Popen[str]:
    return subprocess.Popen([*FP, "worker", "--processes", str(n), "--concurrency", str(concurrency)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_worker_processes_are_pinned_one_per_cpu_share_the_queue_and_drain_on_sigterm(
        pg: str, home: Path, tmp_path: Path, stub: str) -> None:
    env = _env(home, pg, stub)
    assert _cli(env, "run", str(write_csv(tmp_path / "p.csv", 40)), "--run", "r", "--enqueue").returncode == 0
    store = Store(pg)
    parent = _processes(env, 2, concurrency=3)
    try:
        _wait(lambda: _one(store, "SELECT COUNT(*) AS n FROM procrastinate_workers") == 2, why="both processes")
        children = _children(parent.pid)
        assert len(children) == 2
        for child, cpu in zip(children, cpus.spread(2), strict=True):  # every thread of it, not only the first
            masks = {(task / "status").read_text().split("Cpus_allowed_list:")[1].split()[0]
                     for task in Path(f"/proc/{child}/task").iterdir()}
            assert masks == {str(cpu)}, (child, masks)
        _wait(lambda: _one(store, "SELECT COUNT(*) AS n FROM items WHERE lease_owner IS NOT NULL") == 6,
              why="both processes to hold 3 items each")
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0
        assert all(not Path(f"/proc/{c}").exists() for c in children)
        counts = store.counts("r")
        assert 6 <= counts.get("auto_approved", 0) < 40 and counts.get("queued", 0) > 0, counts  # drained, not run dry
        assert _one(store, "SELECT COUNT(*) AS n FROM items WHERE lease_owner IS NOT NULL") == 0
        err = parent.stderr.read()  # type: ignore[union-attr]
        assert "2 worker processes on CPU " in err and err.count("worker stopped: auto_approved") == 2, err
    finally:
        if parent.poll() is None:
            parent.kill()
        store.close()


def test_a_worker_process_that_dies_makes_the_others_drain_and_the_parent_fail(
        pg: str, home: Path, tmp_path: Path, stub: str) -> None:
    env = _env(home, pg, stub)
    parent = _processes(env, 2, concurrency=2)
    store = Store(pg)
    try:
        _wait(lambda: _one(store, "SELECT COUNT(*) AS n FROM procrastinate_workers") == 2, why="both processes")
        doomed, other = _children(parent.pid)
        os.kill(doomed, signal.SIGKILL)
        assert parent.wait(30) == 1
        assert not Path(f"/proc/{other}").exists()
        err = parent.stderr.read()  # type: ignore[union-attr]
        assert f"worker process 1 (pid {doomed}) exited with status -9; draining the others" in err, err
        assert "worker stopped" in err  # the other one drained
    finally:
        if parent.poll() is None:
            parent.kill()
        store.close()


def _gone(pid: int) -> bool:
    try:  # exited: no entry, or a zombie its new parent has not reaped yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_worker_processes_stop_when_their_parent_is_killed(pg: str, home: Path, stub: str) -> None:
    parent = _processes(_env(home, pg, stub), 2, concurrency=2)
    store = Store(pg)
    try:
        _wait(lambda: _one(store, "SELECT COUNT(*) AS n FROM procrastinate_workers") == 2, why="both processes")
        children = _children(parent.pid)
        parent.kill()
        parent.wait(10)
        _wait(lambda: all(_gone(c) for c in children), timeout=30, why="the orphans to stop")
    finally:
        store.close()


def test_a_regenerate_is_a_job_any_worker_applies_once(pg: str, home: Path, tmp_path: Path, stub: str) -> None:
    env = _env(home, pg, stub, shadow=True)
    assert _cli(env, "run", str(write_csv(tmp_path / "p.csv", 3)), "--run", "r", "--enqueue").returncode == 0
    store = Store(pg)
    worker = _worker(env)
    try:
        _wait(lambda: store.counts("r") == {"review": 3}, why="three lines for review")
        item = store.items(run="r")[0]
        decided = _cli(env, "decide", str(item.id), "regenerate", "--note", "mention the office", "--reviewer", "ana")
        assert decided.returncode == 0, decided.stderr
        _wait(lambda: store.item(item.id).rounds == 1 and store.item(item.id).status == "review",
              why="a worker to redraft the line")
        assert _cli(env, "run", str(tmp_path / "p.csv"), "--run", "r", "--enqueue").returncode == 0  # a rerun: no-op
        time.sleep(1.0)
        again = store.item(item.id)
        assert (again.rounds, again.resume) == (1, None)
        assert _drafts_per_thread(store)[item.thread_id] == 2  # the first draft and one redraft
        rows = store.audit_log(item.id)
        assert [(r.action, r.status_after) for r in rows] == [("regenerate", "queued")]
        status = _cli(env, "status", "--run", "r").stdout
        assert "waiting for review    3" in status and "workers seen in the last minute: 1" in status, status
    finally:
        worker.terminate()
        worker.wait(30)
        store.close()


def test_a_regenerate_whose_model_fails_goes_back_to_review_at_the_line_shown(
        pg: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ui.handlers import item_view

    from tests.test_graph import bad_line

    def drafter(messages: list[dict[str, str]]) -> str:
        if "mention the office" in str(messages):  # the reviewer's feedback: the redraft
            raise TimeoutError("the drafter timed out")
        return bad_line(messages)

    monkeypatch.setenv("FIRSTPASS_HOME", str(home))
    monkeypatch.setenv("FIRSTPASS_DATABASE_URL", pg)
    app = build_app(load_settings(), Models(FakeDrafter(drafter), FakeCritic()), load_policy())
    try:
        load_items(app, "r", [prospect(1)])
        shown = app.process(app.store.items(run="r")[0])
        assert shown.status == "review"
        queued = app.decide(shown.id, Decision(action="regenerate", reviewer="ana", note="mention the office",
                                               version=shown.checkpoint_id))
        assert queued.status == "queued" and queued.resume is not None
        back = app.advance(shown.id)  # what the worker's job does
        assert back.status == "review" and back.resume is None and back.lease_owner is None
        assert (back.draft, back.checkpoint_id, back.rounds) == (shown.draft, shown.checkpoint_id, 0)
        assert back.error is not None and "regenerate" in back.error and "the drafter timed out" in back.error
        assert [i.id for i in app.pending()] == [shown.id]
        failed = app.store.query("SELECT COUNT(*) AS n FROM llm_calls WHERE error LIKE '%timed out%'")
        assert failed[0]["n"] == 1  # the call that failed is in the log
        assert main(["show", str(shown.id)]) == 0
        assert "error:     The regenerate asked for earlier could not run" in capsys.readouterr().out
        view = item_view(app, "ben", shown.id)
        assert "the drafter timed out" in view.message and "fp-msg-error" in view.message
        assert view.version == shown.checkpoint_id and view.line == shown.draft
        # The next decision applies to that same line; the audit log has the regenerate and then this one.
        done = app.decide(shown.id, Decision(action="reject", reviewer="ben", categories=["tone"],
                                             version=back.checkpoint_id))
        assert done.status == "rejected" and done.error is None
        rows = app.store.audit_log(shown.id)
        assert [(r.action, r.status_after, r.original_line) for r in rows] == [
            ("regenerate", "queued", shown.draft), ("reject", "rejected", shown.draft)]
        assert "the drafter timed out" not in item_view(app, "ben", None).message
    finally:
        app.close()


def test_run_enqueue_follow_shows_progress_until_done(pg: str, home: Path, tmp_path: Path, stub: str) -> None:
    env = {k: v for k, v in _env(home, pg, stub).items() if k != "TQDM_DISABLE"}
    worker = _worker(env, concurrency=16)
    try:
        done = _cli(env, "run", str(write_csv(tmp_path / "p.csv", 20)), "--run", "r", "--enqueue", "--follow")
    finally:
        worker.terminate()
        worker.wait(30)
    assert done.returncode == 0, done.stderr
    assert "20/20" in done.stderr and "done                  20" in done.stdout


@pytest.mark.sqlite("refuses the SQLite file")
def test_workers_and_enqueue_need_postgresql(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err
    assert main(["run", str(write_csv(tmp_path / "p.csv", 2)), "--enqueue"]) == 2
    assert "FIRSTPASS_DATABASE_URL" in capsys.readouterr().err


# many panels ---------------------------------------------------------------------------------------------


def _review_app(settings_env: dict[str, str]) -> Firstpass:
    from tests.test_graph import bad_line

    return build_app(load_settings(settings_env), Models(FakeDrafter(bad_line), FakeCritic()), load_policy())


def test_two_panels_one_item_one_decision(pg: str, home: Path) -> None:
    env = {"FIRSTPASS_HOME": str(home), "FIRSTPASS_DATABASE_URL": pg}
    one, two = _review_app(env), _review_app(env)
    try:
        load_items(one, "r", [prospect(i) for i in range(4)])
        items = [one.process(i) for i in one.store.items(run="r")]
        assert {i.status for i in items} == {"review"}
        assert [i.id for i in one.pending()] == [i.id for i in two.pending()]  # one queue order everywhere
        target = items[0]
        results: list[str] = []

        def decide(app: Firstpass, reviewer: str) -> None:
            try:
                app.decide(target.id, Decision(action="reject", reviewer=reviewer, categories=["tone"],
                                               version=target.checkpoint_id))
                results.append("ok")
            except DecisionError as exc:
                results.append(str(exc))

        threads = [threading.Thread(target=decide, args=(app, name)) for app, name in ((one, "ana"), (two, "ben"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results.count("ok") == 1, results
        assert len(one.store.audit_log(target.id)) == 1
    finally:
        one.close()
        two.close()


# retention -----------------------------------------------------------------------------------------------


def test_retention_prunes_only_old_finished_threads(database: str | None, home: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_graph import bad_line

    if database:
        monkeypatch.setenv("FIRSTPASS_DATABASE_URL", database)
    settings = load_settings()
    app = build_app(settings, Models(FakeDrafter(bad_line), FakeCritic()), load_policy())
    try:
        load_items(app, "r", [prospect(i) for i in range(4)])
        items = [app.process(i) for i in app.store.items(run="r")]
        for item in items[:3]:
            app.decide(item.id, Decision(action="reject", reviewer="ana", categories=["tone"]))
        old, recent, still_open = items[0].id, items[1].id, items[3].id
        long_ago = time.time() - 40 * 86400
        for item_id in (old, items[2].id, still_open):
            app.store.reset_item(item_id, updated_at=long_ago)
        before = {t: _one(app.store, f"SELECT COUNT(*) AS n FROM {t}") for t in ("audit_log", "eval_cases")}
        assert main(["db", "prune", "--older-than", "30"]) == 0
        assert "pruned the checkpoints of 2 finished thread(s)" in capsys.readouterr().out

        def kept(item_id: int) -> int:
            thread = app.store.item(item_id).thread_id
            return _one(app.store, "SELECT COUNT(*) AS n FROM checkpoints WHERE thread_id = :t", t=thread)

        assert (kept(old), kept(items[2].id)) == (0, 0)
        assert kept(recent) > 0 and kept(still_open) > 0  # too recent, and waiting for review
        assert {t: _one(app.store, f"SELECT COUNT(*) AS n FROM {t}") for t in before} == before
        assert app.store.item(old).status == "rejected" and app.store.item(old).pruned_at is not None
        with pytest.raises(DecisionError, match="retention"):
            app.undo(old, "ana")
        assert main(["db", "prune", "--older-than", "30"]) == 0
        assert "of 0 finished" in capsys.readouterr().out
    finally:
        app.close()
