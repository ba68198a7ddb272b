"""Build the firstpass state machine: draft -> rules -> critic -> route -> (auto_approve | human)."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph import nodes
from graph.routing import after_human, after_route
from graph.state import Context, State


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph[State, Context, State, State]:
    """The compiled graph; pass a checkpointer to pause at the human checkpoint and survive restarts."""
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("draft", nodes.draft)
    builder.add_node("rules", nodes.check_rules)
    builder.add_node("critic", nodes.check_critic)
    builder.add_node("route", nodes.route)
    builder.add_node("auto_approve", nodes.auto_approve)
    builder.add_node("human", nodes.human)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "rules")
    builder.add_edge("rules", "critic")
    builder.add_edge("critic", "route")
    builder.add_conditional_edges("route", after_route)
    builder.add_edge("auto_approve", END)
    builder.add_conditional_edges("human", after_human)
    return builder.compile(checkpointer=checkpointer, name="firstpass")
