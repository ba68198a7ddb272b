"""The audit rate that follows the evidence, and shadow mode: pure figures, then through the app with fake models."""

from __future__ import annotations

import pytest

from critics.policy import load_policy
from evals.sampling import adaptive_rate, clean_audits_needed, fixed_rate
from evals.stats import clopper_pearson_upper
from firstpass.batch import run_batch, todo
from graph.human import Decision

from tests.conftest import AppFactory, load_items, prospect


@pytest.mark.parametrize("errors", [0, 1, 2, 5])
def test_clean_audits_needed_is_the_first_n_whose_bound_is_under_the_accepted_rate(errors: int) -> None:
    n = clean_audits_needed(errors, 0.02)
    assert clopper_pearson_upper(errors, n) < 0.02 <= clopper_pearson_upper(errors, n - 1)


def test_published_zero_error_count() -> None:
    # (1 - 0.02)^n <= 0.05 first at n = 149: the "rule of three" figure for a 2% bound.
    assert clean_audits_needed(0, 0.02) == 149


def test_rate_audits_everything_then_decays_to_the_floor_and_climbs_back_on_an_error() -> None:
    assert adaptive_rate(0, 0, 0.02, 0.02).rate == 1.0
    start = adaptive_rate(148, 0, 0.02, 0.02)
    assert start.rate == 1.0 and "1 more audits needed" in start.reason
    assert adaptive_rate(149, 0, 0.02, 0.02).rate == 1.0
    half = adaptive_rate(298, 0, 0.02, 0.02)
    assert half.rate == pytest.approx(0.5) and half.bound < 0.02 and "50%" in half.reason
    assert adaptive_rate(100_000, 0, 0.02, 0.02).rate == 0.02  # the floor
    assert "floor" in adaptive_rate(100_000, 0, 0.02, 0.02).reason
    # One error among 298 clean audits: 236 are needed with one error, so still sampled, but at a higher rate.
    assert adaptive_rate(298, 1, 0.02, 0.02).rate == pytest.approx(236 / 298)
    # One error among 200: the bound is back over 2%, so every line is audited again.
    assert adaptive_rate(200, 1, 0.02, 0.02).rate == 1.0
    seen_bad = adaptive_rate(10, 4, 0.02, 0.02)
    assert seen_bad.rate == 1.0 and "4 of 10 audited lines changed (40.0%), not under the accepted 2.0%" in seen_bad.reason
    assert fixed_rate(0.05).rate == 0.05 and "adaptive audit is off" in fixed_rate(0.05).reason


def _auto_approved(app, run: str, n: int, start: int = 0):
    load_items(app, run, [prospect(i) for i in range(start, start + n)])
    run_batch(app, todo(app, run), concurrency=1)
    return [i for i in app.store.items(run=run) if i.status == "auto_approved"]


def test_the_app_audits_every_line_of_a_new_gate_then_samples_less(make_app: AppFactory) -> None:
    policy = load_policy()
    policy.route.accepted_error_rate = 0.2  # 14 clean audits show it: a short test of the same mechanism
    app = make_app(policy=policy)
    first = _auto_approved(app, "a", 28)
    assert len(first) == 28 and all(i.audit_sample and i.audit_rate == 1.0 for i in first)
    assert "every line is audited" in (first[0].audit_reason or "") and first[0].route == "auto"
    assert first[0].tier == "standard" and first[0].threshold == 0.8 and first[0].checks_hash
    for item in first:
        app.audit(item.id, Decision(action="approve", reviewer="ana"))
    later = _auto_approved(app, "b", 40, start=100)
    assert all(i.audit_rate == pytest.approx(14 / 28) for i in later)
    assert 8 <= sum(i.audit_sample for i in later) <= 32
    assert all("sampled at 50%" in (i.audit_reason or "") for i in later if i.audit_sample)
    assert all(i.audit_reason is None for i in later if not i.audit_sample)

    # Audits that find bad lines: one raises the rate (22 audits are needed with one error), three put the bound
    # over the accepted rate again (37 needed, 31 done), so every line is audited.
    sampled = [i for i in later if i.audit_sample]
    app.audit(sampled[0].id, Decision(action="reject", reviewer="ana", categories=["ungrounded_claim"]))
    assert _auto_approved(app, "c", 1, start=200)[0].audit_rate == pytest.approx(22 / 29)
    for item in sampled[1:3]:
        line = f"A better line for {item.prospect.company} in {item.prospect.city}."
        app.audit(item.id, Decision(action="edit", reviewer="ana", line=line))
    again = _auto_approved(app, "e", 3, start=400)
    assert all(i.audit_rate == 1.0 and i.audit_sample and "every line" in (i.audit_reason or "") for i in again)

    # A new gate (another threshold) starts from no evidence.
    changed = load_policy()
    changed.route.accepted_error_rate = 0.2
    changed.route.confidence_threshold = 0.7
    other = make_app(policy=changed)
    fresh = _auto_approved(other, "d", 2, start=300)
    assert all(i.audit_rate == 1.0 and "0 of 0 audited" in (i.audit_reason or "") for i in fresh)


def test_an_undone_audit_leaves_the_line_waiting_for_its_audit(make_app: AppFactory) -> None:
    app = make_app()
    (item,) = _auto_approved(app, "r", 1)
    assert item.audit_pending
    app.audit(item.id, Decision(action="approve", reviewer="ana"))
    back = app.undo(item.id, "ana")
    assert back.audit_pending and back.audit_rate == 1.0 and back.audit_reason == item.audit_reason


def test_shadow_mode_sends_every_line_to_a_human_and_records_the_gates_route(make_app: AppFactory) -> None:
    policy = load_policy()
    policy.route.shadow = True
    app = make_app(policy=policy)
    load_items(app, "r", [prospect(1)])
    item = app.process(todo(app, "r")[0])
    assert item.status == "review" and item.route == "review" and item.gate_route == "auto" and item.shadow
    state = app.graph.get_state({"configurable": {"thread_id": item.thread_id}})
    assert any("shadow mode" in r for r in state.values["reasons"])
