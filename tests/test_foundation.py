"""The foundation's promises: a decision applies to the line shown or is refused, one writer per thread, leases
renewed while a model call runs, every model attempt logged with its thread, one queue order, migrations that
upgrade an old database in place."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from critics.critic import CriticVerdict
from firstpass import accounts
from firstpass.batch import run_batch, todo
from firstpass.db import Item, Outcome, Store, reviewqueue
from firstpass.db.migrate import current, head
from firstpass.db.schema import metadata
from firstpass.service import DecisionError, Firstpass
from firstpass.session import Models, build_app
from firstpass.settings import Settings, load_settings
from graph.human import Decision
from graph.models import InstructorCritic, ModelCall, ModelSpec, thread_scope

from fakes import FakeCritic, FakeDrafter
from stubserver import start_in_thread
from tests.conftest import AppFactory, company_of, good_line, load_items, prospect

LEGACY_DB = Path(__file__).with_name("data") / "legacy-main-7c119ab.db"
FEEDBACK = "A reviewer turned down the line"


def bad_line(messages: list[dict[str, str]]) -> str:
    return f"Hey {{first_name}}, {company_of(messages)} is AMAZING!!"


def failing_regenerate(error: Exception) -> FakeDrafter:
    """Drafts a flagged line; any regenerate (a prompt with reviewer feedback) fails with `error`."""
    def answer(messages: list[dict[str, str]]) -> str:
        if FEEDBACK in messages[-1]["content"]:
            raise error
        return bad_line(messages)
    return FakeDrafter(answer)


def flagged(app: Firstpass, run: str = "r", n: int = 1) -> list[int]:
    load_items(app, run, [prospect(i) for i in range(n)])
    items = [app.process(i) for i in todo(app, run)]
    assert all(i.status == "review" for i in items)
    return [i.id for i in items]


# --- a decision applies to the line on screen, or is refused ---------------------------------------------

@pytest.mark.sqlite("a regenerate runs in the panel's process on SQLite; on PostgreSQL it is a worker's job: test_workers.py")
@pytest.mark.parametrize("error", [ConnectionError("model server is down"), TimeoutError("drafter timed out")],
                         ids=["model-error", "time-out"])
@pytest.mark.parametrize("then", ["approve", "reject", "edit"])
def test_failed_regenerate_leaves_the_line_on_screen_for_the_next_decision(
        make_app: AppFactory, error: Exception, then: str) -> None:
    drafter = failing_regenerate(error)
    app = make_app(drafter=drafter)
    (item_id,) = flagged(app)
    shown = app.item(item_id)
    with pytest.raises(DecisionError, match="nothing changed: the item still shows the same line"):
        app.decide(item_id, Decision(action="regenerate", reviewer="ana", note="try again", version=shown.checkpoint_id))
    after_failure = app.item(item_id)
    assert (after_failure.status, after_failure.draft, after_failure.checkpoint_id, after_failure.rounds) == (
        "review", shown.draft, shown.checkpoint_id, 0)
    assert app.store.audit_log(item_id) == [] and app.store.eval_cases() == []
    assert reviewqueue.pending(app.store)[0].id == item_id  # back in the queue, free for anyone
    calls = len(drafter.calls)

    clean = "The new office is a big step for Harbor 0 Freight."
    decision = {"approve": Decision(action="approve", reviewer="ana", version=shown.checkpoint_id),
                "reject": Decision(action="reject", reviewer="ana", categories=["spammy"], version=shown.checkpoint_id),
                "edit": Decision(action="edit", reviewer="ana", line=clean, version=shown.checkpoint_id)}[then]
    item = app.decide(item_id, decision)
    assert len(drafter.calls) == calls  # nothing was drafted again: the decision was about the line shown
    expected = {"approve": ("approved", shown.draft), "reject": ("rejected", None), "edit": ("approved", clean)}[then]
    assert (item.status, item.final_line) == expected
    assert item.status != "auto_approved"
    (row,) = app.store.audit_log(item_id)
    assert (row.action, row.original_line, row.status_after) == (then, shown.draft, item.status)
    state = app.graph.get_state({"configurable": {"thread_id": item.thread_id}})
    assert state.values["status"] == item.status and state.values.get("final_line") == item.final_line
    assert state.config["configurable"]["checkpoint_id"] == item.checkpoint_id


def test_decision_on_a_line_that_changed_since_it_was_shown_is_refused(make_app: AppFactory) -> None:
    app = make_app(drafter=FakeDrafter(bad_line))
    (item_id,) = flagged(app)
    seen = app.item(item_id).checkpoint_id
    # Someone else edits the line (rules still fire, so it stays in review, showing a new line).
    app.decide(item_id, Decision(action="edit", reviewer="ben", line="Great news, {company}!"))
    changed = app.item(item_id)
    assert changed.status == "review" and changed.checkpoint_id != seen
    with pytest.raises(DecisionError, match="changed since it was shown"):
        app.decide(item_id, Decision(action="approve", reviewer="ana", version=seen))
    assert app.item(item_id).status == "review"
    assert app.decide(item_id, Decision(action="approve", reviewer="ana", version=changed.checkpoint_id)).final_line \
        == "Great news, {company}!"


# --- one writer per thread ------------------------------------------------------------------------------

@pytest.mark.sqlite("a regenerate runs in the panel's process on SQLite; on PostgreSQL it is a worker's job: test_workers.py")
def test_a_second_app_cannot_advance_a_thread_while_a_decision_runs(make_app: AppFactory) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_regenerate(messages: list[dict[str, str]]) -> str:
        if FEEDBACK in messages[-1]["content"]:
            started.set()
            assert release.wait(10)
            return good_line(messages)
        return bad_line(messages)

    reviewer_app = make_app(drafter=FakeDrafter(slow_regenerate))
    (item_id,) = flagged(reviewer_app)
    other_drafter = FakeDrafter(good_line)
    rerun = make_app(drafter=other_drafter)  # a second process: a rerun of the batch, or another panel
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.update(item=reviewer_app.decide(
        item_id, Decision(action="regenerate", reviewer="ana", note="shorter"))))
    worker.start()
    assert started.wait(10)
    # A rerun while the decision is in flight neither takes the item nor drafts it.
    load_items(rerun, "r", [prospect(0)])
    assert run_batch(rerun, todo(rerun, "r")).processed == 0
    assert rerun.process(rerun.item(item_id)).status == "review"
    with pytest.raises(DecisionError, match="being worked on right now"):
        rerun.decide(item_id, Decision(action="approve", reviewer="ben"))
    assert reviewqueue.claim_next(rerun.store, "ben") is None  # not offered to another reviewer either
    release.set()
    worker.join(10)
    item = outcome["item"]
    assert isinstance(item, Item)
    assert item.status == "auto_approved" and item.rounds == 1  # the decision stands
    assert other_drafter.calls == []
    (row,) = reviewer_app.store.audit_log(item_id)
    assert (row.reviewer, row.action, row.status_after) == ("ana", "regenerate", "auto_approved")


def test_a_slow_model_call_keeps_its_lease(settings: Settings) -> None:
    def slow(messages: list[dict[str, str]]) -> str:
        time.sleep(4.0)
        return good_line(messages)

    slow_app = build_app(settings, Models(FakeDrafter(slow), FakeCritic()))
    # Renewed every 0.5 s while the call runs: room for a loaded CI machine, still far shorter than the call.
    slow_app.lease_seconds = slow_app.keeper.seconds = 1.5
    other = build_app(settings, Models(FakeDrafter(good_line), FakeCritic()))
    try:
        load_items(slow_app, "r", [prospect(1)])
        (item,) = todo(slow_app, "r")
        worker = threading.Thread(target=slow_app.process, args=(item,))
        worker.start()
        started = time.monotonic() + 10
        while slow_app.item(item.id).lease_owner != slow_app.owner and time.monotonic() < started:
            time.sleep(0.01)  # the worker has taken the lease: from here on nobody else may
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:  # well past the lease's 1.5 s, it is never free to take
            assert other.store.take_lease(item.id, other.owner, 5.0) is None
            time.sleep(0.1)
        worker.join(10)
        done = slow_app.item(item.id)
        assert done.status == "auto_approved" and done.lease_owner is None
    finally:
        slow_app.close()
        other.close()


def test_a_writer_whose_lease_was_taken_over_is_fenced_out(make_app: AppFactory) -> None:
    app = make_app()
    load_items(app, "r", [prospect(1)])
    (item,) = todo(app, "r")
    first = app.store.take_lease(item.id, "worker:a", 60)
    assert first is not None and app.store.take_lease(item.id, "worker:b", 60) is None
    app.store.reset_item(item.id, lease_expires=0)  # worker a stalls past its lease
    second = app.store.take_lease(item.id, "worker:b", 60)
    assert second is not None and second.token == first.token + 1
    assert not app.store.save_outcome(first, Outcome(status="auto_approved", final_line="stale"))
    assert not app.store.renew_leases([first], 60) == []  # the lost lease is reported lost
    assert app.item(item.id).status == "queued"
    assert app.store.save_outcome(second, Outcome(status="auto_approved", final_line="fresh"))
    assert app.item(item.id).final_line == "fresh"


def test_a_dead_process_lease_on_this_machine_is_taken_over_at_once(make_app: AppFactory) -> None:
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from firstpass.leases import HOST

    dead = f"worker:{HOST}:{gone.stdout.strip()}:deadbeef"
    app = make_app()
    load_items(app, "r", [prospect(1)])
    (item,) = todo(app, "r")
    assert app.store.take_lease(item.id, dead, 600) is not None
    assert app.process(app.item(item.id)).status == "auto_approved"


# --- the model-call log ---------------------------------------------------------------------------------

def test_every_critic_attempt_is_logged_raw_with_its_thread() -> None:
    server, url = start_in_thread(0.0, "flaky")
    calls: list[ModelCall] = []
    critic = InstructorCritic(ModelSpec(base_url=url, model="stub", retries=2), log=calls.append)
    try:
        with thread_scope("run:p1"):
            verdict = critic.review([{"role": "user", "content": "Line to review: x"}])
    finally:
        server.shutdown()
    assert isinstance(verdict, CriticVerdict) and verdict.confidence == 0.93
    assert [c.attempt for c in calls] == [1, 2, 3]
    assert all(c.thread == "run:p1" and c.role == "critic" for c in calls)
    assert [c.error is not None for c in calls] == [True, True, False]
    assert "very high" in (calls[0].response or "")  # the raw answer, not the validated verdict
    assert "tool_calls" in (calls[2].response or "") and calls[0].request["messages"][0]["content"].startswith("Line")


def test_app_log_rows_carry_the_item_thread(make_app: AppFactory) -> None:
    app = make_app()
    load_items(app, "r", [prospect(1)])
    item = app.process(todo(app, "r")[0])
    rows = app.store.query("SELECT role, thread, attempt FROM llm_calls ORDER BY id")
    assert [(r["role"], r["thread"], r["attempt"]) for r in rows] == [
        ("drafter", item.thread_id, 1), ("critic", item.thread_id, 1)]


def test_a_failed_item_keeps_the_call_that_failed_it(make_app: AppFactory) -> None:
    def down(messages: list[dict[str, str]]) -> str:
        raise ConnectionError("model server down")

    app = make_app(drafter=FakeDrafter(down))
    load_items(app, "r", [prospect(1)])
    item = app.process(todo(app, "r")[0])
    # The call is written in the transaction that marks the item failed: one never appears without the other.
    rows = app.store.query("SELECT role, thread, error FROM llm_calls")
    assert item.status == "failed" and "model server down" in (item.error or "")
    assert [(r["role"], r["thread"]) for r in rows] == [("drafter", item.thread_id)]
    assert "model server down" in rows[0]["error"]


# --- the queue order ------------------------------------------------------------------------------------

def test_queue_puts_blocking_findings_before_low_confidence(make_app: AppFactory) -> None:
    def drafter(messages: list[dict[str, str]]) -> str:
        company = company_of(messages)
        return bad_line(messages) if company == "Harbor 1 Freight" else good_line(messages)

    def critic(messages: list[dict[str, str]]) -> CriticVerdict:
        # The critic trusts the line the rules stop, and doubts the clean one: the two signals disagree.
        return CriticVerdict(findings=[], confidence=0.9 if "Harbor 1 Freight" in messages[-1]["content"] else 0.1)

    app = make_app(drafter=FakeDrafter(drafter), critic=FakeCritic(critic))
    load_items(app, "r", [prospect(2), prospect(1)])
    run_batch(app, todo(app, "r"), concurrency=1)
    blocked = app.store.item_by_prospect("r", "p1")
    doubted = app.store.item_by_prospect("r", "p2")
    high = [sum(f.severity == "high" for f in i.findings) for i in (blocked, doubted)]
    assert high[0] > high[1] and (blocked.confidence or 0) > (doubted.confidence or 0)
    assert [i.id for i in app.pending()] == [blocked.id, doubted.id]
    assert reviewqueue.claim_next(app.store, "ana") == blocked.id


# --- migrations -----------------------------------------------------------------------------------------

def test_migrations_build_exactly_the_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.db")
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diffs == []


def test_a_database_made_by_main_before_migrations_upgrades_in_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(LEGACY_DB, home / "firstpass.db")
    settings = load_settings({"FIRSTPASS_HOME": str(home)})
    store = Store(settings.db_path)
    assert current(store.engine) == head()
    # Nothing lost: every item, audit row, eval case and account the old version wrote.
    assert store.counts("legacy") == {"approved": 2, "auto_approved": 1, "rejected": 2, "review": 1, "queued": 1}
    assert [(a.reviewer, a.action) for a in store.audit_log()] == [
        ("ana", "approve"), ("ana", "reject"), ("ben", "edit"), ("ben", "reject")]
    assert len(store.eval_cases()) == 4
    assert accounts.verify(store, "ana", "correct horse battery")
    store.close()

    app = build_app(settings, Models(FakeDrafter(bad_line), FakeCritic()))
    try:
        # The item the old version left mid-decision is read back from its thread, not drafted again.
        (stuck,) = todo(app, "legacy")
        assert app.process(stuck).status == "review"
        assert app.store.query("SELECT COUNT(*) AS n FROM llm_calls WHERE role = 'drafter' AND attempt = 1"
                               " AND thread = :t", {"t": stuck.thread_id})[0]["n"] == 0
        for item in app.pending("legacy"):
            assert app.decide(item.id, Decision(action="approve", reviewer="ana")).status == "approved"
        assert app.store.counts("legacy") == {"approved": 4, "auto_approved": 1, "rejected": 2}
    finally:
        app.close()


def test_two_processes_loading_one_file_store_each_row_once(tmp_path: Path) -> None:
    from critics.prospect import Prospect

    path = tmp_path / "x.db"
    Store(path).ensure_run("r")
    rows = [(i + 2, {}, Prospect(id=f"p{i}", first_name="Ada", company=f"Co {i}")) for i in range(3000)]
    added: list[int] = []
    loaders = [threading.Thread(target=lambda: added.append(Store(path).add_items("r", iter(rows))))
               for _ in range(2)]
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    assert sum(added) == 3000 and len(Store(path).items(run="r")) == 3000
