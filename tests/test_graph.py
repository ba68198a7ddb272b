"""The graph with fake models: routing, each resume action, restarts, failures, the audit log and eval cases."""

from __future__ import annotations

import sqlite3

import pytest

from critics.policy import load_policy
from firstpass.batch import run_batch, todo
from firstpass.service import DecisionError, Firstpass
from graph.human import Decision

from fakes import FakeCritic, FakeDrafter
from tests.conftest import AppFactory, company_of, good_line, load_items, prospect, verdict


def bad_line(messages: list[dict[str, str]]) -> str:
    return f"Hey {{first_name}}, {company_of(messages)} is AMAZING!!"


def flagged_item(make_app: AppFactory, run: str = "r", **kw) -> tuple[Firstpass, int]:
    app = make_app(drafter=kw.pop("drafter", FakeDrafter(bad_line)), **kw)
    load_items(app, run, [prospect(1)])
    item = app.process(todo(app, run)[0])
    assert item.status == "review"
    return app, item.id


def test_clean_line_is_auto_approved_without_interrupt(make_app: AppFactory) -> None:
    app = make_app()
    load_items(app, "r", [prospect(1)])
    item = app.process(todo(app, "r")[0])
    assert item.status == "auto_approved"
    assert item.final_line == "The new office is a big step for Harbor 1 Freight."
    assert item.prompt_version == "drafter-v1" and item.drafter_model == "fake-drafter"
    assert item.critic_model == "fake-critic" and item.confidence == 0.95
    state = app.graph.get_state({"configurable": {"thread_id": item.thread_id}})
    assert not state.interrupts and not state.next


def test_rule_hit_interrupts_with_agent_inbox_payload(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    item = app.item(item_id)
    state = app.graph.get_state({"configurable": {"thread_id": item.thread_id}})
    (intr,) = state.interrupts
    request = intr.value
    assert request["action_request"]["action"] == "review_first_line"
    assert request["action_request"]["args"]["line"] == item.draft
    assert request["action_request"]["args"]["prospect"]["company"] == "Harbor 1 Freight"
    assert {f["category"] for f in request["action_request"]["args"]["findings"]} >= {"placeholder", "spammy"}
    assert request["config"] == {"allow_accept": True, "allow_edit": True, "allow_ignore": True,
                                 "allow_respond": True}


def test_low_confidence_and_blocking_critic_findings_go_to_review(make_app: AppFactory) -> None:
    low = make_app(critic=FakeCritic(verdict(confidence=0.4)))
    load_items(low, "low", [prospect(1)])
    assert low.process(todo(low, "low")[0]).status == "review"
    blocking = make_app(critic=FakeCritic(verdict(0.99, [{"category": "tone", "severity": "high",
                                                          "quote": "big step", "explanation": "pushy"}])))
    load_items(blocking, "blk", [prospect(2)])
    item = blocking.process(todo(blocking, "blk")[0])
    assert item.status == "review"
    (f,) = item.findings
    assert f.source == "critic" and item.draft[f.start:f.end] == "big step"
    minor = make_app(critic=FakeCritic(verdict(0.99, [{"category": "tone", "severity": "low",
                                                       "quote": "x", "explanation": "meh"}])))
    load_items(minor, "minor", [prospect(3)])
    assert minor.process(todo(minor, "minor")[0]).status == "auto_approved"


def test_critic_failure_fails_closed(make_app: AppFactory) -> None:
    def broken(messages):
        raise TimeoutError("critic timed out")

    app = make_app(critic=FakeCritic(broken))
    load_items(app, "r", [prospect(1)])
    item = app.process(todo(app, "r")[0])
    assert item.status == "review"
    assert item.confidence is None
    assert [f.code for f in item.findings] == ["other.critic_failed"]
    assert "critic timed out" in item.findings[0].message


def test_approve(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    draft = app.item(item_id).draft
    item = app.decide(item_id, Decision(action="approve", reviewer="ana", duration_ms=1200))
    assert item.status == "approved" and item.final_line == draft
    (row,) = app.store.audit_log(item_id)
    assert (row.reviewer, row.action, row.original_line, row.final_line) == ("ana", "approve", draft, draft)
    assert row.duration_ms == 1200 and row.prompt_version == "drafter-v1" and row.status_after == "approved"
    assert {f.category for f in row.findings} >= {"placeholder"}
    # Approving a flagged line tells us the gate was wrong: an eval case.
    (case,) = app.store.eval_cases()
    assert case["verdict"] == "approve" and case["ai_line"] == draft


def test_edit_rechecks_rules_and_force_overrides(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    original = app.item(item_id).draft
    still_bad = app.decide(item_id, Decision(action="edit", reviewer="ana", line="Great news, {company}!"))
    assert still_bad.status == "review"
    assert still_bad.draft == "Great news, {company}!"
    assert {f.category for f in still_bad.findings} >= {"placeholder", "missing_company"}
    assert app.store.eval_cases() == []  # a refused edit is not a verdict
    clean = "The new office is a big step for Harbor 1 Freight."
    done = app.decide(item_id, Decision(action="edit", reviewer="ana", line=clean))
    assert done.status == "approved" and done.final_line == clean
    rows = app.store.audit_log(item_id)
    assert [r.status_after for r in rows] == ["review", "approved"]
    (case,) = app.store.eval_cases()
    assert case["verdict"] == "edit" and case["final_line"] == clean
    assert case["ai_line"] == original  # the drafter's line, not the reviewer's first attempt
    assert rows[1].original_line == original

    app2, item2 = flagged_item(make_app, run="r2")
    forced = app2.decide(item2, Decision(action="edit", reviewer="ana", line="Hi there", force=True))
    assert forced.status == "approved" and forced.final_line == "Hi there"
    assert [f.category for f in forced.findings] == ["missing_company"]


def test_reject_needs_a_category_and_ends_the_thread(make_app: AppFactory) -> None:
    with pytest.raises(ValueError, match="category"):
        Decision(action="reject", reviewer="ana")
    app, item_id = flagged_item(make_app)
    item = app.decide(item_id, Decision(action="reject", reviewer="ana", categories=["placeholder", "spammy"],
                                        note="template leftovers"))
    assert item.status == "rejected" and item.final_line is None
    (case,) = app.store.eval_cases()
    assert case["verdict"] == "reject" and case["categories"] == ["placeholder", "spammy"]
    assert case["note"] == "template leftovers"
    assert case["prospect"]["company"] == "Harbor 1 Freight"


@pytest.mark.sqlite("a regenerate runs in the panel's process on SQLite; on PostgreSQL it is a worker's job: test_workers.py")
def test_regenerate_sends_feedback_and_regates(make_app: AppFactory) -> None:
    def drafter(messages):
        return good_line(messages) if "A reviewer turned down" in messages[-1]["content"] else bad_line(messages)

    fake = FakeDrafter(drafter)
    app, item_id = flagged_item(make_app, drafter=fake)
    item = app.decide(item_id, Decision(action="regenerate", reviewer="ana", note="drop the placeholder"))
    assert "drop the placeholder" in fake.calls[-1][-1]["content"]
    assert item.status == "auto_approved" and item.rounds == 1
    assert item.final_line == "The new office is a big step for Harbor 1 Freight."
    (case,) = app.store.eval_cases()
    assert case["verdict"] == "regenerate"


@pytest.mark.sqlite("a regenerate runs in the panel's process on SQLite; on PostgreSQL it is a worker's job: test_workers.py")
def test_regenerate_is_bounded(make_app: AppFactory) -> None:
    policy = load_policy()
    policy.route.max_regenerate_rounds = 2
    app, item_id = flagged_item(make_app, policy=policy)
    for expected_round in (1, 2):
        item = app.decide(item_id, Decision(action="regenerate", reviewer="ana", note="again"))
        assert item.status == "review" and item.rounds == expected_round
    state = app.graph.get_state({"configurable": {"thread_id": item.thread_id}})
    assert state.interrupts[0].value["config"]["allow_respond"] is False
    with pytest.raises(DecisionError, match="regenerations"):
        app.decide(item_id, Decision(action="regenerate", reviewer="ana", note="again"))
    assert app.item(item_id).status == "review"  # the refusal changed nothing


def test_decision_on_decided_item_is_refused_and_changes_nothing(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    app.decide(item_id, Decision(action="reject", reviewer="ana", categories=["spammy"]))
    with pytest.raises(DecisionError, match="already decided \\(reject\\) by ana"):
        app.decide(item_id, Decision(action="approve", reviewer="ben"))
    assert app.item(item_id).status == "rejected"
    assert len(app.store.audit_log(item_id)) == 1
    with pytest.raises(DecisionError, match="no item 999"):
        app.decide(999, Decision(action="approve", reviewer="ben"))


def test_paused_item_survives_a_restart(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    app.close()
    fresh = make_app()  # a new process: new connections to the same database file
    assert [i.id for i in fresh.pending()] == [item_id]
    item = fresh.decide(item_id, Decision(action="approve", reviewer="ana"))
    assert item.status == "approved"


def test_drafter_failure_marks_failed_and_rerun_continues(make_app: AppFactory) -> None:
    calls = {"n": 0}

    def flaky(messages):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("model server is down")
        return good_line(messages)

    app = make_app(drafter=FakeDrafter(flaky))
    load_items(app, "r", [prospect(1), prospect(2)])
    first = run_batch(app, todo(app, "r"), concurrency=1)
    assert (first.failed, first.auto_approved) == (1, 1)
    assert "model server is down" in next(iter(first.failures))
    second = run_batch(app, todo(app, "r"), concurrency=1)
    assert (second.processed, second.auto_approved) == (1, 1)
    assert app.store.counts("r") == {"auto_approved": 2}
    # finished items are not drafted again
    assert run_batch(app, todo(app, "r")).processed == 0 and calls["n"] == 3


def test_crash_between_checkpoint_and_store_is_reconciled(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    # Simulate a crash after the graph paused but before the store recorded it.
    app.store.reset_item(item_id, status="queued")
    drafter = FakeDrafter(good_line)
    again = make_app(drafter=drafter)
    assert run_batch(again, todo(again, "r")).review == 1
    (item,) = again.store.items(run="r")
    assert item.status == "review" and item.id == item_id
    assert drafter.calls == []  # the paused thread was found, not drafted again


@pytest.mark.sqlite("tampers with the SQLite file directly; PostgreSQL's triggers: test_workers.py")
def test_audit_log_is_append_only(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    app.decide(item_id, Decision(action="approve", reviewer="ana"))
    conn = sqlite3.connect(app.store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET reviewer = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    conn.close()
    assert app.store.audit_log(item_id)[0].reviewer == "ana"


def test_audit_sampling_is_seeded_and_forced_tier_reviews_all(make_app: AppFactory) -> None:
    policy = load_policy()
    policy.route.adaptive_audit = False  # the fixed, seeded rate (the adaptive one: tests/test_auditing.py)
    policy.route.tiers["standard"].audit_sample_rate = 0.5
    app = make_app(policy=policy)
    load_items(app, "r", [prospect(i) for i in range(40)])
    run_batch(app, todo(app, "r"))
    sampled = {i.prospect_id for i in app.store.items(run="r") if i.audit_sample}
    assert 8 <= len(sampled) <= 32
    # A rerun of the same run (same threads, same seed) draws the same sample.
    for item in app.store.items(run="r"):
        app.store.reset_item(item.id, status="queued")
        app.graph.checkpointer.delete_thread(item.thread_id)
    run_batch(app, todo(app, "r"))
    assert {i.prospect_id for i in app.store.items(run="r") if i.audit_sample} == sampled

    strict = load_policy()
    strict.route.tier = "high"
    forced = make_app(policy=strict)
    load_items(forced, "hi", [prospect(1)])
    item = forced.process(todo(forced, "hi")[0])
    assert item.status == "review"


def test_pending_is_most_severe_first(make_app: AppFactory) -> None:
    confidences = iter([0.9, 0.2, 0.6])
    app = make_app(critic=FakeCritic(lambda m: verdict(next(confidences))))
    load_items(app, "r", [prospect(i) for i in range(3)])
    run_batch(app, todo(app, "r"), concurrency=1)
    # 0.9 was auto-approved; a new gate audits every such line, after the flagged ones.
    assert [(i.confidence, i.status) for i in app.pending()] == [(0.2, "review"), (0.6, "review"),
                                                                 (0.9, "auto_approved")]


def test_every_model_call_is_logged(make_app: AppFactory) -> None:
    app = make_app()
    load_items(app, "r", [prospect(1)])
    app.process(todo(app, "r")[0])
    rows = app.store.query("SELECT role, model, response FROM llm_calls ORDER BY id")
    assert [(r["role"], r["model"]) for r in rows] == [("drafter", "fake-drafter"), ("critic", "fake-critic")]
    assert "Harbor 1 Freight" in rows[0]["response"]


def test_decision_interrupted_by_a_crash_returns_to_the_queue(make_app: AppFactory) -> None:
    app, item_id = flagged_item(make_app)
    assert app.store.begin_decision(item_id, "ana", "worker:elsewhere", 60)  # ... and the process died here
    app.store.reset_item(item_id, lease_expires=0, claim_expires=0)  # its lease has run out
    fresh = make_app()
    assert fresh.item(item_id).status == "review"
    assert fresh.decide(item_id, Decision(action="approve", reviewer="ben")).status == "approved"
