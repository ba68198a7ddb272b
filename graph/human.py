"""The human checkpoint's payloads: the Agent Inbox-shaped request, and the reviewer's decision applied to state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from critics.findings import Category, Finding
from graph.state import State

Action = Literal["approve", "edit", "reject", "regenerate"]
ACTIONS: tuple[str, ...] = ("approve", "edit", "reject", "regenerate")
REVIEW_ACTION = "review_first_line"
# Agent Inbox response types for each of our actions.
INBOX_TYPE = {"approve": "accept", "edit": "edit", "regenerate": "response", "reject": "ignore"}
ACTION_OF = {v: k for k, v in INBOX_TYPE.items()}


class Decision(BaseModel):
    """A reviewer's decision on one flagged line."""

    action: Action = Field(description="approve, edit (approve an edited line), reject, or regenerate with feedback.")
    reviewer: str = Field(min_length=1, description="Who decided.")
    line: str | None = Field(default=None, description="The edited line (edit only).")
    categories: list[Category] = Field(default_factory=list, description="Taxonomy categories (reject).")
    note: str = Field(default="", description="Reject note, or the feedback for the drafter (regenerate).")
    force: bool = Field(default=False, description="Approve an edit even though rules still fire on it.")
    duration_ms: float | None = Field(default=None, description="How long the decision took the reviewer.")
    version: str | None = Field(default=None, description="The checkpoint the reviewer was shown; a decision on an "
                                "item that has changed since is refused.")
    identity: Literal["login", "self-asserted"] = Field(
        default="self-asserted", description="How the reviewer is known: a panel login, or a name they gave.")

    @model_validator(mode="after")
    def _action_needs(self) -> Decision:
        if self.action == "edit" and not (self.line or "").strip():
            raise ValueError("edit needs the edited line")
        if self.action == "reject" and not self.categories:
            raise ValueError("reject needs at least one taxonomy category")
        return self

    def to_resume(self) -> dict[str, Any]:
        """The Agent Inbox HumanResponse for Command(resume=...), with firstpass's own fields alongside."""
        args: Any = None
        if self.action == "edit":
            args = {"action": REVIEW_ACTION, "args": {"line": self.line}}
        elif self.action == "regenerate":
            args = self.note
        return {"type": INBOX_TYPE[self.action], "args": args, "firstpass": self.model_dump()}

    @classmethod
    def from_resume(cls, response: Any) -> Decision:
        """Read a resume value: firstpass's own fields, or an Agent Inbox HumanResponse (alone or in a one-item list)."""
        if isinstance(response, list) and len(response) == 1:
            response = response[0]
        if not isinstance(response, dict):
            raise ValueError(f"a resume value is a HumanResponse object, not {type(response).__name__}")
        if "firstpass" in response:
            return cls.model_validate(response["firstpass"])
        action = ACTION_OF.get(response.get("type", ""))
        if action is None:
            raise ValueError(f"unknown response type {response.get('type')!r}")
        args = response.get("args")
        line = args.get("args", {}).get("line") if isinstance(args, dict) else None
        note = args if isinstance(args, str) else ""
        categories = ["other"] if action == "reject" else []
        return cls(action=action, reviewer=response.get("reviewer", "agent-inbox"), line=line, note=note,
                   categories=categories)


def review_request(state: State, max_rounds: int) -> dict[str, Any]:
    """The interrupt payload: an Agent Inbox HumanInterrupt carrying the draft, record, findings and allowed actions."""
    findings = state.get("findings", [])
    summary = "; ".join(f"[{f['category']}] {f['message']}" for f in findings) or "no findings"
    return {
        "action_request": {
            "action": REVIEW_ACTION,
            "args": {"line": state["draft"], "prospect": state["prospect"], "findings": findings,
                     "confidence": state.get("confidence"), "reasons": state.get("reasons", [])},
        },
        "config": {"allow_accept": True, "allow_edit": True, "allow_ignore": True,
                   "allow_respond": state.get("rounds", 0) < max_rounds},
        "description": f"Review this first line. {summary}",
    }


def apply_response(state: State, response: Any, recheck: Callable[[str], list[Finding]],
                   max_rounds: int) -> dict[str, Any]:
    """Apply a reviewer's response to state; an edit that still fires rules stays at the checkpoint unless forced."""
    try:
        decision = Decision.from_resume(response)
    except (ValidationError, ValueError) as exc:
        return {"decision": {"error": f"invalid decision: {exc}"}}
    record = decision.model_dump()
    if decision.action == "approve":
        return {"status": "approved", "final_line": state["draft"], "decision": record}
    if decision.action == "reject":
        return {"status": "rejected", "final_line": None, "decision": record}
    if decision.action == "regenerate":
        if state.get("rounds", 0) >= max_rounds:
            return {"decision": {**record, "error": f"no regenerations left ({max_rounds} used)"}}
        return {"feedback": decision.note or "Write a different line.", "rounds": state.get("rounds", 0) + 1,
                "decision": record}
    line = (decision.line or "").strip()
    findings = recheck(line)
    if findings and not decision.force:
        return {"draft": line, "findings": [f.model_dump() for f in findings], "confidence": None,
                "decision": {**record, "error": "rules still fire on the edited line"}}
    return {"status": "approved", "draft": line, "final_line": line,
            "findings": [f.model_dump() for f in findings], "decision": record}
