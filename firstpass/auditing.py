"""The audit draw for auto-approved lines, at the rate the audits of the same gate call for (evals.sampling)."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from critics.gate import audit_draw
from critics.policy import Policy
from evals.sampling import AuditRate, adaptive_rate, fixed_rate
from firstpass.db import Outcome, Store
from firstpass.db.store import GATE_KEY

# A rate is read again after this long: many lines a second share one count of the audits, and an audit made by
# another process is seen within this time (an audit made here is seen at once).
RATE_TTL_SECONDS = 2.0


def gate_of(values: Any) -> dict[str, Any]:
    """The gate an item or outcome was routed by (tier, prompt version, models, checks, threshold)."""
    return {k: getattr(values, k) for k in GATE_KEY}


class AuditSampler:
    """Decides which auto-approved lines are audited, and records the rate and the reason on the line."""

    def __init__(self, store: Store, policy: Policy, ttl: float = RATE_TTL_SECONDS) -> None:
        """Sample for `policy` over the audits in `store`, counting them again at most every `ttl` seconds."""
        self.store = store
        self.policy = policy
        self.ttl = ttl
        self._cache: dict[tuple[Any, ...], tuple[float, AuditRate]] = {}
        self._lock = threading.Lock()

    def rate(self, gate: dict[str, Any]) -> AuditRate:
        """The audit rate for lines auto-approved by `gate`, from that gate's audits so far."""
        route = self.policy.route
        floor = route.tiers[gate["tier"]].audit_sample_rate if gate.get("tier") in route.tiers else 1.0
        if not route.adaptive_audit:
            return fixed_rate(floor)
        key = tuple(gate[k] for k in GATE_KEY)
        with self._lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
        audited, errors = self.store.audit_evidence(gate)
        found = adaptive_rate(audited, errors, route.accepted_error_rate, floor)
        with self._lock:
            self._cache[key] = (time.monotonic(), found)
        return found

    def choose(self, outcome: Outcome, thread: str) -> Outcome:
        """The outcome with its audit draw made at the evidence's rate, when the line was auto-approved."""
        if outcome.status != "auto_approved" or outcome.route != "auto":
            return outcome
        found = self.rate(gate_of(outcome))
        sampled = audit_draw(self.policy.route.audit_seed, thread) < found.rate
        return dataclasses.replace(outcome, audit_sample=sampled, audit_rate=found.rate,
                                   audit_reason=found.reason if sampled else None)

    def forget(self) -> None:
        """Count the audits again on the next draw (an audit was just recorded)."""
        with self._lock:
            self._cache.clear()
