"""The firstpass application object: the graph, its checkpointer, the store and the models, wired together.

This is the small Python API that the command line, the review panel and the evals use: process an item,
list pending items, read one, submit a decision.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from critics.findings import Finding
from critics.policy import Policy
from firstpass import reviewqueue
from firstpass.store import AuditEntry, Item, Store, connect
from graph.builder import build_graph
from graph.human import Decision
from graph.nodes import safe_rules
from graph.state import Context


class DecisionError(ValueError):
    """A decision that cannot be applied (item not pending, claimed by someone else, invalid action)."""


class Firstpass:
    """The gate over one database file: run items through the graph and apply reviewers' decisions."""

    def __init__(self, store: Store, context: Context) -> None:
        """Wire the graph to `store`'s database file, with the models and policy in `context`."""
        self.store = store
        self.context = context
        self.saver = SqliteSaver(connect(store.path))
        self.saver.setup()
        self.graph = build_graph(self.saver)
        self.recover()

    def recover(self) -> int:
        """Return items left mid-decision by a crash to wherever their thread stands (usually the queue)."""
        stale = [i for i in self.store.items(status="deciding") if (i.claim_expires or 0) < time.time()]
        for item in stale:
            self.process(item)
        return len(stale)

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self.context.policy

    def close(self) -> None:
        """Close the database connections."""
        self.saver.conn.close()
        self.store.close()

    # running items ---------------------------------------------------------------------------------

    def process(self, item: Item) -> Item:
        """Take one item as far as the graph goes without a human; a failure marks it failed, never approved."""
        config = {"configurable": {"thread_id": item.thread_id}}
        snapshot = self.graph.get_state(config)
        if snapshot.interrupts or snapshot.values.get("status"):
            return self._save(item.id, snapshot.values, bool(snapshot.interrupts))
        # A thread that stopped part-way (a crash, a failed model call) continues from its last checkpoint.
        start = None if snapshot.next else {"prospect": item.prospect.model_dump(), "rounds": 0}
        try:
            out = self.graph.invoke(start, config, context=self.context, durability="exit")
        except Exception as exc:  # noqa: BLE001 - one prospect's failure must not stop the batch
            self.store.save_result(item.id, status="failed", error=f"{type(exc).__name__}: {str(exc)[:300]}")
            return self.store.item(item.id)
        return self._save(item.id, out, "__interrupt__" in out)

    def _save(self, item_id: int, values: dict[str, Any], interrupted: bool) -> Item:
        status = "review" if interrupted else values.get("status", "failed")
        self.store.save_result(
            item_id, status=status, draft=values.get("draft"), ai_line=values.get("ai_draft"), final_line=values.get("final_line"),
            findings=[Finding.model_validate(f) for f in values.get("findings", [])],
            confidence=values.get("confidence"), audit_sample=int(bool(values.get("audit_sample"))),
            rounds=values.get("rounds", 0), prompt_version=values.get("prompt_version"),
            drafter_model=values.get("drafter_model"), critic_model=values.get("critic_model"), error=None,
            claimed_by=None, claim_expires=None,
        )
        return self.store.item(item_id)

    # reviewing -------------------------------------------------------------------------------------

    def pending(self, run: str | None = None) -> list[Item]:
        """Items waiting for a human, most severe first (blocking findings, low confidence, then age)."""
        items = self.store.items(run=run, status="review")
        return sorted(items, key=lambda i: (-sum(f.severity == "high" for f in i.findings),
                                            i.confidence if i.confidence is not None else -1.0, i.created_at, i.id))

    def item(self, item_id: int) -> Item:
        """One item."""
        return self.store.item(item_id)

    def decide(self, item_id: int, decision: Decision) -> Item:
        """Apply a reviewer's decision: resume the item's thread, append the audit row, save overrides as eval cases."""
        try:
            item = self.store.item(item_id)
        except KeyError as exc:
            raise DecisionError(f"there is no item {item_id}") from exc
        if not self.store.begin_decision(item_id, decision.reviewer):
            raise DecisionError(self._why_not_pending(item_id))
        try:
            if decision.action == "regenerate" and item.rounds >= self.policy.route.max_regenerate_rounds:
                raise DecisionError(f"item {item_id} has used all {item.rounds} regenerations; edit or reject it")
            config = {"configurable": {"thread_id": item.thread_id}}
            out = self.graph.invoke(Command(resume=decision.to_resume()), config, context=self.context,
                                    durability="sync")
        except BaseException:
            self.store.end_decision(item_id, "review")
            raise
        updated = self._save(item_id, out, "__interrupt__" in out)
        self._record(item, updated, decision, out.get("decision") or {})
        return updated

    def audit(self, item_id: int, decision: Decision) -> Item:
        """Record a reviewer's verdict on an auto-approved line sampled for audit; its finished thread is not resumed.

        approve keeps the line; edit replaces the final line (status approved); reject takes the line out (status
        rejected). Regenerate is refused: the line may already have been sent. Edits and rejects become eval cases.
        """
        try:
            item = self.store.item(item_id)
        except KeyError as exc:
            raise DecisionError(f"there is no item {item_id}") from exc
        if decision.action == "regenerate":
            raise DecisionError(f"item {item_id} was auto-approved and its thread has finished, so it cannot be "
                                "regenerated; approve, edit or reject it")
        status, final = item.status, item.final_line
        if decision.action == "edit":
            final = (decision.line or "").strip()
            still = safe_rules(final, item.prospect, self.context)
            if still and not decision.force:
                codes = ", ".join(sorted({f.code for f in still}))
                raise DecisionError(f"rules still fire on the edited line ({codes}); nothing changed")
            status = "approved"
        elif decision.action == "reject":
            status, final = "rejected", None
        if not reviewqueue.finish_audit(self.store, item_id, decision.reviewer, status, final):
            raise DecisionError(self._why_not_auditable(item_id))
        after = self.store.item(item_id)
        entry = AuditEntry(
            item_id=item.id, run=item.run, reviewer=decision.reviewer, action=decision.action,
            original_line=item.ai_line or item.draft, final_line=after.final_line, categories=list(decision.categories),
            note=decision.note, findings=item.findings, confidence=item.confidence, prompt_version=item.prompt_version,
            drafter_model=item.drafter_model, critic_model=item.critic_model, duration_ms=decision.duration_ms,
            status_after=after.status,
        )
        audit_id = self.store.append_audit(entry)
        if decision.action != "approve":
            # The gate let this line through and a human disagreed: exactly the case the evals need.
            self.store.add_eval_case(audit_id, entry, item.prospect, verdict=decision.action)
        return after

    def _why_not_auditable(self, item_id: int) -> str:
        item = self.store.item(item_id)
        if item.audited_at is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.audited_at))
            return f"item {item_id} was already audited by {item.audited_by} at {when}; nothing changed"
        if item.audit_pending and item.claimed_by:
            return f"item {item_id} is being audited by {item.claimed_by} right now; nothing changed"
        return f"item {item_id} is {item.status}, not waiting for an audit; nothing changed"

    def _why_not_pending(self, item_id: int) -> str:
        item = self.store.item(item_id)
        if item.status == "review":
            return f"item {item_id} is being decided by {item.claimed_by} right now"
        last = next(iter(reversed(self.store.audit_log(item_id))), None)
        if last:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last.at))
            return f"item {item_id} was already decided ({last.action}) by {last.reviewer} at {when}; nothing changed"
        return f"item {item_id} is {item.status}, not waiting for review; nothing changed"

    def _record(self, before: Item, after: Item, decision: Decision, outcome: dict[str, Any]) -> None:
        final = after.final_line if after.status in ("approved", "rejected") else None
        entry = AuditEntry(
            item_id=before.id, run=before.run, reviewer=decision.reviewer, action=decision.action,
            original_line=before.ai_line or before.draft, final_line=final if decision.action != "edit" else (decision.line or "").strip(),
            categories=list(decision.categories), note=decision.note, findings=before.findings,
            confidence=before.confidence, prompt_version=before.prompt_version, drafter_model=before.drafter_model,
            critic_model=before.critic_model, duration_ms=decision.duration_ms, status_after=after.status,
        )
        audit_id = self.store.append_audit(entry)
        if is_override(decision, before, self.policy.route.confidence_threshold) and not outcome.get("error"):
            self.store.add_eval_case(audit_id, entry, before.prospect, verdict=decision.action)


def is_override(decision: Decision, item: Item, threshold: float) -> bool:
    """Whether a decision overrides the AI or the gate: any edit, reject or regenerate, or approving a flagged line."""
    if decision.action != "approve":
        return True
    return bool(item.findings) or item.confidence is None or item.confidence < threshold
