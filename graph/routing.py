"""Routers: given state, the name of the next node."""

from __future__ import annotations

from typing import Literal

from graph.state import State


def after_route(state: State) -> Literal["auto_approve", "human"]:
    """Auto-approved lines skip the human; everything else stops at the checkpoint."""
    return "auto_approve" if state.get("route") == "auto" else "human"


def after_human(state: State) -> Literal["draft", "human", "__end__"]:
    """A decided line ends; a regenerate goes back to the drafter; an edit that still fires rules asks again."""
    if state.get("status") in ("approved", "rejected"):
        return "__end__"
    if state.get("feedback"):
        return "draft"
    return "human"
