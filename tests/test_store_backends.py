"""The store's use cases on both backends: the SQLite file (the embedded default) and PostgreSQL (a throwaway
cluster), through the same code and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from critics.findings import Finding
from critics.prospect import Prospect
from evals.canaries import rejected
from firstpass.db import AuditEntry, Outcome, Store, migrate, reviewqueue


@pytest.fixture
def store(database: str | None, tmp_path: Path) -> Iterator[Store]:
    s = Store(database or tmp_path / "x.db")
    yield s
    s.close()


PRICING = Finding(source="rule", code="pricing.term", category="pricing", severity="high", message="price")


def _load(store: Store, n: int, run: str = "r") -> list[int]:
    store.ensure_run(run)
    added = store.add_items(run, [(i + 2, {}, Prospect(id=f"p{i}", first_name="Ana", company=f"Co {i}"))
                                  for i in range(n)])
    assert added == n
    assert store.add_items(run, [(2, {}, Prospect(id="p0", first_name="Ana", company="Co 0"))]) == 0
    return [i.id for i in store.items(run=run)]


def test_migrations_reach_the_newest_on_an_empty_database(store: Store) -> None:
    with store.engine.connect() as conn:
        assert migrate.current(store.engine) == migrate.head()
        assert conn is not None
    assert store.verify_audit_log().ok


def test_queue_order_claims_and_filters(store: Store) -> None:
    ids = _load(store, 4)
    for k, item_id in enumerate(ids):
        store.reset_item(item_id, status="review", confidence=0.1 * k, findings=[PRICING] if k < 2 else [])
    assert [i.id for i in reviewqueue.pending(store)] == ids  # most blocking, then lowest confidence
    assert reviewqueue.count(store, "ana", category="pricing").left == 2
    assert reviewqueue.count(store, "ana", run="r", category="tone").left == 0
    first = reviewqueue.claim_next(store, "ana")
    second = reviewqueue.claim_next(store, "ben", exclude=[ids[1]])
    assert (first, second) == (ids[0], ids[2])
    assert reviewqueue.count(store, "ana").held_by_others == 1 and reviewqueue.held(store, "ana")
    assert not reviewqueue.claim(store, ids[0], "ben")


def test_a_decision_writes_item_audit_row_and_eval_case_together(store: Store) -> None:
    (item_id,) = _load(store, 1)
    store.reset_item(item_id, status="review", draft="Act now!!", ai_line="Act now!!")
    lease = store.begin_decision(item_id, "ana", "worker:1", 60)
    assert lease is not None and store.begin_decision(item_id, "ben", "worker:2", 60) is None
    entry = AuditEntry(item_id=item_id, run="r", reviewer="ana", action="reject", original_line="Act now!!",
                       final_line=None, categories=["spammy"], status_after="rejected")
    prospect = store.item(item_id).prospect
    assert store.record_decision(lease, Outcome(status="rejected", draft="Act now!!"), entry, prospect, "reject")
    assert store.item(item_id).status == "rejected"
    assert [c["verdict"] for c in store.eval_cases()] == ["reject"]
    assert store.verify_audit_log().ok and store.verify_audit_log().rows == 1
    # The fenced-out writer records nothing.
    assert store.record_decision(lease, Outcome(status="approved"), entry, prospect, None) is None


def test_audit_evidence_canaries_and_policy_versions(store: Store) -> None:
    ids = _load(store, 3)
    gate = {"tier": "standard", "prompt_version": "drafter-v1", "drafter_model": "d", "critic_model": "c",
            "checks_hash": "h", "threshold": 0.8}
    for k, item_id in enumerate(ids):
        store.reset_item(item_id, status="auto_approved" if k else "rejected", route="auto", audited_at=1.0, **gate)
    assert store.audit_evidence(gate) == (3, 1)
    prospect = Prospect(id="x", first_name="Ana", company="Co")
    check = store.canaries.add("ana", prospect, rejected("Act now!!", ["spammy"]), [PRICING], 0.5, 300)
    assert store.canaries.pending("ana") == check and reviewqueue.count(store, "ben").left == 0
    assert store.canaries.record(check, "ana", "approve", False, 900.0)
    assert [r["caught"] for r in store.canaries.results()] == [0]
    assert store.add_policy_version("p.toml", "abc", None, "confidence_threshold = 0.50", {"lines": 3}) == 1


def test_concurrent_audit_rows_keep_one_chain(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = _load(store, 40)
    prospect = Prospect(id="p0", first_name="Ana", company="Co 0")

    def decide(item_id: int) -> None:
        store.reset_item(item_id, status="review")
        lease = store.begin_decision(item_id, "ana", f"worker:{item_id}", 60)
        assert lease is not None
        entry = AuditEntry(item_id=item_id, run="r", reviewer="ana", action="approve", original_line="x",
                           final_line="x", status_after="approved")
        assert store.record_decision(lease, Outcome(status="approved"), entry, prospect, None) is not None

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(decide, ids))
    verdict = store.verify_audit_log()
    assert verdict.ok and verdict.rows == 40
