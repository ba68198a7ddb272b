"""Known-bad check lines for reviewers: when to show one (a seeded draw at the policy's rate), what it is (a line a
human rejected, or a human-approved line broken with one known error), and scoring the decision on it.

A check line looks like any other item in the reviewer's queue. Its decision is scored (caught: anything but
approving it as is), never exported and never learned from, and the reviewer is told right after deciding.
"""

from __future__ import annotations

import random

from critics.gate import audit_draw
from critics.policy import Policy
from critics.prospect import Prospect
from evals.canaries import BREAKS, Canary, break_line, rejected
from firstpass.db import Store
from firstpass.db.canarystore import CANARY_RUN

__all__ = ["CANARY_RUN", "due", "make"]


def _seen(store: Store, reviewer: str) -> int:
    rows = store.query("SELECT COUNT(*) AS n FROM audit_log WHERE reviewer = :me", {"me": reviewer})
    return int(rows[0]["n"]) + store.canaries.shown(reviewer)


def due(store: Store, policy: Policy, reviewer: str) -> bool:
    """Whether the reviewer's next item is a check line: a draw seeded by the reviewer and how many items they
    have decided or been shown, so that the share is the policy's rate and a page reload draws nothing new."""
    rate = policy.reviewers.canary_rate
    return rate > 0 and audit_draw(policy.route.audit_seed, f"canary:{reviewer}:{_seen(store, reviewer)}") < rate


def make(store: Store, policy: Policy, reviewer: str) -> tuple[Prospect, Canary] | None:
    """A check line for the reviewer: a rejected line, or an approved one broken with a known error; None when no
    human has judged any line yet (there is nothing known to be good or bad to build one from)."""
    rng = random.Random(f"{policy.route.audit_seed}:{reviewer}:{_seen(store, reviewer)}")
    judged = store.eval_runs.judged_lines()
    bad = [j for j in judged if not j.ok and j.categories]
    good = [j for j in judged if j.ok and j.line]
    if not bad and not good:
        return None
    if bad and (not good or rng.random() < 1 / 3):
        pick = rng.choice(bad)
        return Prospect.model_validate(pick.prospect), rejected(pick.line, list(pick.categories))
    pick = rng.choice(good)
    prospect = Prospect.model_validate(pick.prospect)
    return prospect, break_line(pick.line, prospect.first_name, rng.choice(BREAKS), rng)


def reveal(caught: bool, wrong: str) -> str:
    """What the reviewer is told right after deciding a check line."""
    if caught:
        return f"That was a check line, and you caught it: {wrong}. Check lines are never sent."
    return (f"That was a check line, and it was approved: {wrong}. Check lines are never sent, but a line like it "
            "would have been.")
