"""The firstpass service API: the graph, its checkpointer, the store and the lease keeper, wired together.

The command line, the review panel and the evals use it: process an item, list pending items, read one,
apply a decision, record an audit. Every write of a use case is one store transaction, taken under the
item's lease, so one process advances a thread at a time and a decision is applied to the checkpoint the
reviewer was shown, or refused.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot

from critics.findings import Finding
from critics.policy import Policy
from firstpass import calls, canaries
from firstpass.auditing import AuditSampler
from firstpass.db import AuditEntry, Item, Lease, Outcome, Store, reviewqueue
from firstpass.db.checkpoints import close_checkpointer, open_checkpointer, recording_saves
from firstpass.leases import LeaseKeeper, dead_owners, process_owner
from firstpass.terminal import one_line
from graph.builder import build_graph
from graph.human import Decision
from graph.models import unregister_client
from graph.nodes import edit_rules, safe_rules
from graph.state import Context, State

log = logging.getLogger(__name__)
# A processing lease is renewed every third of this while a model call runs; a dead process's lease frees
# its item after this long (at once on the same machine, where a dead process can be seen).
LEASE_SECONDS = 60.0
# A check line shows a middling critic confidence: neither so low nor so high that it stands out in the queue.
CANARY_CONFIDENCE = 0.55


class DecisionError(ValueError):
    """A decision that cannot be applied (item not pending, claimed by someone else, invalid action)."""


def outcome_of(snapshot: StateSnapshot) -> Outcome:
    """What an item shows, read from its thread's checkpoint: paused at the human step, finished, or neither."""
    return outcome_of_values(snapshot.values or {}, bool(snapshot.interrupts), snapshot.config)


def outcome_of_values(values: dict[str, Any], interrupted: bool, config: RunnableConfig) -> Outcome:
    """What an item shows, from its thread's state values, whether it waits at the human step, and its checkpoint."""
    status = "review" if interrupted else values.get("status") or "failed"
    return Outcome(
        status=status, draft=values.get("draft"), ai_line=values.get("ai_draft"), final_line=values.get("final_line"),
        findings=tuple(Finding.model_validate(f) for f in values.get("findings", [])),
        confidence=values.get("confidence"), audit_sample=bool(values.get("audit_sample")),
        rounds=values.get("rounds", 0), prompt_version=values.get("prompt_version"),
        drafter_model=values.get("drafter_model"), critic_model=values.get("critic_model"),
        checkpoint_id=(config.get("configurable") or {}).get("checkpoint_id"), prompt_hash=values.get("prompt_hash"),
        route=values.get("route"), gate_route=values.get("gate_route"), tier=values.get("tier"),
        shadow=bool(values.get("shadow")), checks_hash=values.get("checks_hash"), threshold=values.get("threshold"),
    )


class Firstpass:
    """The gate over one database: run items through the graph and apply reviewers' decisions."""

    def __init__(self, store: Store, context: Context, clients: tuple[str, ...] = (),
                 lease_seconds: float = LEASE_SECONDS) -> None:
        """Wire the graph to `store`'s database, with the models and policy in `context`.

        `clients` names the model clients registered for this app (see graph.models), forgotten on close.
        """
        self.store = store
        self.context = context
        self.clients = clients
        self.lease_seconds = lease_seconds
        self.owner = process_owner()
        self.keeper = LeaseKeeper(store, lease_seconds)
        self.sampler = AuditSampler(store, context.policy)
        self.saver = open_checkpointer(store)
        self.graph = build_graph(self.saver)

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self.context.policy

    def close(self) -> None:
        """Stop renewing leases, forget this app's clients and close the database connections."""
        self.keeper.close()
        for name in self.clients:
            unregister_client(name)
        close_checkpointer(self.saver)
        self.store.close()

    # running items ---------------------------------------------------------------------------------

    def process(self, item: Item) -> Item:
        """Take one item as far as the graph goes without a human, under its lease; a failure marks it failed.

        An item that another process is working on, or that no longer needs the graph, is returned as it is.
        """
        return self.advance(item.id)

    def advance(self, item_id: int) -> Item:
        """`process` by item id (a worker's job): lease, run, save; the item as it stands after. KeyError if gone."""
        leased = self.store.lease_item(item_id, self.owner, self.lease_seconds)
        if leased is None:
            current = self.store.item(item_id)
            # A holder that died on this machine frees the item at once; anyone else's lease is waited out.
            dead = dead_owners([current.lease_owner])
            leased = self.store.lease_item(item_id, self.owner, self.lease_seconds, dead=dead) if dead else None
            if leased is None:
                return current
        lease, item = leased
        with self.keeper.hold(lease), calls.collected() as made:
            try:
                outcome = self.sampler.choose(self._advance(item), item.thread_id)
            except Exception as exc:  # noqa: BLE001 - one prospect's failure must not stop the batch
                if item.resume is not None:
                    # A reviewer's regenerate that could not run: the item goes back to review, at the line they
                    # saw, saying why; the thread's checkpoint is unchanged ("exit" durability wrote nothing on it).
                    why = (f"The {item.resume.get('action', 'decision')} asked for earlier could not run "
                           f"({one_line(exc)}); this is the line shown before it: decide again.")
                    return self.store.return_to_review(lease, why, made) or self.store.item(item_id)
                return self.store.save_failure(lease, one_line(exc), made) or self.store.item(item_id)
        saved = self.store.save_outcome(lease, outcome, made)
        if saved is None:
            log.warning("item %s was taken over by another process; its result here was discarded", item_id)
            return self.store.item(item_id)
        return saved

    def _advance(self, item: Item) -> Outcome:
        if item.resume is not None:
            return self._apply_waiting(item)
        config: RunnableConfig = {"configurable": {"thread_id": item.thread_id}}
        start: State = {"prospect": item.prospect.model_dump(), "rounds": 0}
        if self.saver.get_tuple(config) is None:
            # A new thread (the common case): its outcome is what the run returns, at the checkpoint it saved.
            with recording_saves() as saved:
                values = self.graph.invoke(start, config, context=self.context, durability="exit")
            at = saved.get(item.thread_id)
            if at is None:
                done = self.saver.get_tuple(config)
                at = (done.config["configurable"] or {}).get("checkpoint_id") if done else None
            return outcome_of_values(values, "__interrupt__" in values,
                                     {"configurable": {"thread_id": item.thread_id, "checkpoint_id": at}})
        snapshot = self.graph.get_state(config)
        if not (snapshot.interrupts or snapshot.values.get("status")):
            # A thread that stopped part-way (a crash, a failed model call) continues from its last checkpoint.
            self.graph.invoke(None if snapshot.next else start, config, context=self.context, durability="exit")
            snapshot = self.graph.get_state(config)
        return outcome_of(snapshot)

    def _apply_waiting(self, item: Item) -> Outcome:
        """Apply the decision a reviewer left on the item to the checkpoint they were shown (a worker's job)."""
        latest = self.graph.get_state({"configurable": {"thread_id": item.thread_id}})
        moved_on = (latest.config.get("configurable") or {}).get("checkpoint_id") != item.checkpoint_id
        if moved_on and (latest.interrupts or latest.values.get("status")):
            # An earlier attempt applied it and died before saving: its result stands (no second redraft).
            return outcome_of(latest)
        return outcome_of(self._resume(item, Decision.model_validate(item.resume)))

    # reviewing -------------------------------------------------------------------------------------

    def pending(self, run: str | None = None) -> list[Item]:
        """Flagged items waiting for a human, in queue order (most severe first)."""
        return reviewqueue.pending(self.store, run)

    def item(self, item_id: int) -> Item:
        """One item."""
        return self.store.item(item_id)

    def _get(self, item_id: int) -> Item:
        try:
            return self.store.item(item_id)
        except KeyError as exc:
            raise DecisionError(f"there is no item {item_id}") from exc

    # check lines (canaries) -------------------------------------------------------------------------

    def next_canary(self, reviewer: str, claim_seconds: float = 300.0) -> int | None:
        """The reviewer's check line to show next: the one they hold, or a new one when the draw says so and they
        hold no real item; None otherwise."""
        held = self.store.canaries.pending(reviewer)
        if held is not None:
            reviewqueue.claim(self.store, held, reviewer, claim_seconds)
            return held
        # The draw first: it is cheap and says no 98% of the time; the held-claim check reads the pending queue.
        if not canaries.due(self.store, self.policy, reviewer) or reviewqueue.held(self.store, reviewer):
            return None
        made = canaries.make(self.store, self.policy, reviewer)
        if made is None:
            return None
        prospect, canary = made
        findings = safe_rules(canary.line, prospect, self.context)
        return self.store.canaries.add(reviewer, prospect, canary, findings, CANARY_CONFIDENCE, claim_seconds)

    def decide_canary(self, item: Item, decision: Decision) -> str:
        """Score a reviewer's decision on their check line (caught: anything but approving it as is); what they are
        told about it."""
        row = self.store.canaries.of_item(item.id)
        if row is None:
            raise DecisionError(f"item {item.id} is not a check line")
        caught = decision.action != "approve"
        if not self.store.canaries.record(item.id, decision.reviewer, decision.action, caught, decision.duration_ms):
            raise DecisionError(f"item {item.id} is not waiting for {decision.reviewer}'s decision; nothing changed")
        return canaries.reveal(caught, str(row["wrong"]))

    def decide(self, item_id: int, decision: Decision) -> Item:
        """Apply a reviewer's decision to the checkpoint the item shows: resume its thread there, then record the
        item, the audit row, the eval case and the lease release in one transaction.

        If the graph fails part-way (a regenerate whose model errs or times out), nothing is recorded and the
        item still shows the same line at the same checkpoint: the next decision applies to that line.
        """
        shown = self._get(item_id)
        if shown.run == canaries.CANARY_RUN:
            self.decide_canary(shown, decision)
            return self.store.item(item_id)
        self._check_force(decision)
        lease = self.store.begin_decision(item_id, decision.reviewer, self.owner, self.lease_seconds,
                                          checkpoint_id=decision.version, dead=dead_owners([shown.lease_owner]))
        if lease is None:
            raise DecisionError(self._why_not_pending(item_id, decision))
        with self.keeper.hold(lease):
            try:
                before = self.store.item(item_id)
                if decision.action == "regenerate" and self.store.postgres:
                    return self._queue(lease, before, decision)
                snapshot = self._resume(before, decision)
            except BaseException as exc:
                self.store.release_lease(lease)
                if isinstance(exc, DecisionError) or not isinstance(exc, Exception):
                    raise
                log.info("decision on item %s failed", item_id, exc_info=True)  # the caller shows one line
                raise DecisionError(f"could not apply the {decision.action} to item {item_id} ({one_line(exc)}); "
                                    "nothing changed: the item still shows the same line") from exc
        return self._record(lease, before, outcome_of(snapshot), decision, snapshot.values.get("decision") or {})

    def _check_force(self, decision: Decision) -> None:
        if decision.action == "edit" and decision.force and self.policy.panel.edit_with_findings == "refuse":
            raise DecisionError("the policy refuses edits that the rules still flag (panel.edit_with_findings = "
                                "\"refuse\"); change the line until nothing fires")

    def _check_rounds(self, item: Item, decision: Decision) -> None:
        if decision.action == "regenerate" and item.rounds >= self.policy.route.max_regenerate_rounds:
            raise DecisionError(f"item {item.id} has used all {item.rounds} regenerations; edit or reject it")

    def _resume(self, item: Item, decision: Decision) -> StateSnapshot:
        self._check_rounds(item, decision)
        shown: RunnableConfig = {"configurable": {"thread_id": item.thread_id}}
        if item.checkpoint_id:
            # Resume the checkpoint the reviewer was shown, whatever a failed attempt left after it.
            shown["configurable"]["checkpoint_id"] = item.checkpoint_id
        # "exit" writes nothing onto the shown checkpoint: a failed attempt's writes land on a checkpoint of their
        # own (with "sync" they would be saved as that checkpoint's pending writes and replayed by the next resume).
        # The decision itself is committed by the store's transaction, not by the checkpoint.
        self.graph.invoke(Command(resume=decision.to_resume()), shown, context=self.context, durability="exit")
        return self.graph.get_state({"configurable": {"thread_id": item.thread_id}})

    def _queue(self, lease: Lease, before: Item, decision: Decision) -> Item:
        """On PostgreSQL a regenerate is a worker's job (it needs the drafter): the decision, its audit row, its eval
        case and the job are one transaction, and any worker continues the thread."""
        self._check_rounds(before, decision)
        entry = _entry(before, decision, "queued", None, decision.note)
        if self.store.queue_decision(lease, entry, before.prospect, decision.action, decision.model_dump()) is None:
            raise DecisionError(f"item {before.id} was taken over by another process while the decision ran; "
                                "nothing was recorded")
        return self.store.item(before.id)

    def _record(self, lease: Lease, before: Item, after: Outcome, decision: Decision, outcome: dict[str, Any]) -> Item:
        after = self.sampler.choose(after, before.thread_id)  # a regenerated line the gate let through
        final = after.final_line if after.status in ("approved", "rejected") else None
        note = decision.note
        if decision.action == "edit" and decision.force and after.status == "approved":
            overridden = sorted({f.code for f in after.findings if f.source == "rule"})
            if overridden:
                note = f"{note} [approved anyway over rules: {', '.join(overridden)}]".strip()
        entry = _entry(before, decision, after.status,
                       final if decision.action != "edit" else (decision.line or "").strip(), note)
        learn = is_override(decision, before, self.policy.route.confidence_threshold) and not outcome.get("error")
        if self.store.record_decision(lease, after, entry, before.prospect, decision.action if learn else None) is None:
            raise DecisionError(f"item {before.id} was taken over by another process while the decision ran; "
                                "nothing was recorded")
        return self.store.item(before.id)

    def audit(self, item_id: int, decision: Decision) -> Item:
        """Record a reviewer's verdict on an auto-approved line sampled for audit; its finished thread is not resumed.

        approve keeps the line; edit replaces the final line (status approved); reject takes the line out (status
        rejected). Regenerate is refused: the line may already have been sent. Edits and rejects become eval cases.
        The item, the audit row and the eval case are written in one transaction.
        """
        item = self._get(item_id)
        self._check_force(decision)
        if decision.action == "regenerate":
            raise DecisionError(f"item {item_id} was auto-approved and its thread has finished, so it cannot be "
                                "regenerated; approve, edit or reject it")
        status, final = item.status, item.final_line
        if decision.action == "edit":
            final = (decision.line or "").strip()
            still = edit_rules(final, item.prospect, self.context)
            if still and not decision.force:
                codes = ", ".join(sorted({f.code for f in still}))
                raise DecisionError(f"rules still fire on the edited line ({codes}); nothing changed")
            status = "approved"
        elif decision.action == "reject":
            status, final = "rejected", None
        entry = AuditEntry(
            item_id=item.id, run=item.run, reviewer=decision.reviewer, action=decision.action,
            original_line=item.ai_line or item.draft, final_line=final, categories=list(decision.categories),
            note=decision.note, findings=item.findings, confidence=item.confidence, prompt_version=item.prompt_version,
            drafter_model=item.drafter_model, critic_model=item.critic_model, duration_ms=decision.duration_ms,
            status_after=status, identity=decision.identity, checkpoint_id=item.checkpoint_id,
        )
        # The gate let this line through and a human disagreed: exactly the case the evals need.
        verdict = decision.action if decision.action != "approve" else None
        if self.store.record_audit(item_id, decision.reviewer, status, final, entry, item.prospect, verdict) is None:
            raise DecisionError(self._why_not_auditable(item_id))
        self.sampler.forget()
        return self.store.item(item_id)

    def undo(self, item_id: int, reviewer: str, identity: str = "self-asserted") -> Item:
        """Take back the reviewer's decision on an item: it shows again what it showed before (back in review, or
        waiting for its audit), the audit log gets an `undo` row, and the decision's eval case is withdrawn.

        Refused unless it is the item's newest decision, by this reviewer, within the policy's window, not a
        regenerate (the thread went on from it), and the line has not been exported.
        """
        item = self._get(item_id)
        last = self.store.last_audit_row(item_id)
        if last is None or last[1].action == "undo":
            raise DecisionError(f"item {item_id} has no decision to undo")
        audit_id, decided = last
        window = self.policy.panel.undo_minutes * 60
        if decided.reviewer != reviewer:
            raise DecisionError(f"item {item_id} was decided by {decided.reviewer}; only they can undo it")
        if decided.action == "regenerate":
            raise DecisionError(f"item {item_id} was regenerated: the new line came from that decision, so it cannot "
                                "be taken back; decide the new line instead")
        if time.time() - decided.at > window:
            raise DecisionError(f"the decision on item {item_id} is older than {self.policy.panel.undo_minutes:g} "
                                "minutes and can no longer be undone")
        if item.exported_at is not None:
            raise DecisionError(f"item {item_id} was exported, so its decision can no longer be undone")
        if item.pruned_at is not None:
            raise DecisionError(f"item {item_id}'s checkpoints were removed by retention, so it cannot be undone")
        if decided.checkpoint_id is None:
            raise DecisionError(f"item {item_id} was decided before undo was recorded; it cannot be undone")
        was_audit = item.audited_at is not None  # an audit of an auto-approved line: it waits for its audit again
        snapshot = self.graph.get_state({"configurable": {"thread_id": item.thread_id,
                                                          "checkpoint_id": decided.checkpoint_id}})
        before = outcome_of(snapshot)
        entry = AuditEntry(
            item_id=item.id, run=item.run, reviewer=reviewer, action="undo", original_line=item.final_line or item.draft,
            final_line=before.final_line, note=f"undid {decided.action} (audit row {audit_id})",
            findings=list(before.findings), confidence=before.confidence, prompt_version=before.prompt_version,
            drafter_model=before.drafter_model, critic_model=before.critic_model, status_after=before.status,
            identity=identity, checkpoint_id=item.checkpoint_id,
        )
        if not self.store.record_undo(item_id, audit_id, item.status, before, was_audit, entry):
            raise DecisionError(f"item {item_id} changed meanwhile (a newer decision, an export, or work in "
                                "progress); nothing was undone")
        return self.store.item(item_id)

    def _why_not_auditable(self, item_id: int) -> str:
        item = self.store.item(item_id)
        if item.audited_at is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.audited_at))
            return f"item {item_id} was already audited by {item.audited_by} at {when}; nothing changed"
        if item.audit_pending and item.claimed_by:
            return f"item {item_id} is being audited by {item.claimed_by} right now; nothing changed"
        return f"item {item_id} is {item.status}, not waiting for an audit; nothing changed"

    def _why_not_pending(self, item_id: int, decision: Decision) -> str:
        item = self.store.item(item_id)
        if item.status == "review":
            if decision.version is not None and item.checkpoint_id != decision.version:
                return f"item {item_id} has changed since it was shown; look at it again (nothing changed)"
            if item.lease_owner and (item.lease_expires or 0) >= time.time():
                return f"item {item_id} is being worked on right now; nothing changed"
            return f"item {item_id} is being decided by {item.claimed_by} right now"
        last = next(iter(reversed(self.store.audit_log(item_id))), None)
        if last:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last.at))
            return f"item {item_id} was already decided ({last.action}) by {last.reviewer} at {when}; nothing changed"
        return f"item {item_id} is {item.status}, not waiting for review; nothing changed"


def _entry(before: Item, decision: Decision, status_after: str, final_line: str | None, note: str) -> AuditEntry:
    """The audit row of a reviewer's decision on the line `before` showed."""
    return AuditEntry(
        item_id=before.id, run=before.run, reviewer=decision.reviewer, action=decision.action,
        original_line=before.ai_line or before.draft, final_line=final_line, categories=list(decision.categories),
        note=note, findings=before.findings, confidence=before.confidence, prompt_version=before.prompt_version,
        drafter_model=before.drafter_model, critic_model=before.critic_model, duration_ms=decision.duration_ms,
        status_after=status_after, identity=decision.identity, checkpoint_id=before.checkpoint_id,
    )


def is_override(decision: Decision, item: Item, threshold: float) -> bool:
    """Whether a decision overrides the AI or the gate: any edit, reject or regenerate, or approving a flagged line."""
    if decision.action != "approve":
        return True
    return bool(item.findings) or item.confidence is None or item.confidence < threshold
