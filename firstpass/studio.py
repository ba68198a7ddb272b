"""The graph as LangGraph's own server runs it (`langgraph dev`, LangGraph Studio, Agent Inbox).

`langgraph.json` names `studio_graph`. The server supplies the checkpointer and builds the run context
from the run's or the assistant's `context` JSON (see graph.state.Context): model specs, the policy and
prompt versions. A spec with provider `embedded` starts firstpass's own llama.cpp server on first use.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from firstpass.session import embedded_base_url
from firstpass.settings import load_settings
from graph.builder import build_graph
from graph.models import ChatDrafter, InstructorCritic, ModelSpec, register_provider
from graph.state import Context, State

# The embedded servers live as long as the server process that started them.
_SERVERS = ExitStack()
atexit.register(_SERVERS.close)


def _embedded(role: str, spec: ModelSpec) -> Any:
    home: Path = load_settings().home
    url = embedded_base_url(role, spec.model, home, _SERVERS)
    served = spec.model_copy(update={"base_url": url})
    return ChatDrafter(served) if role == "drafter" else InstructorCritic(served)


def studio_graph() -> CompiledStateGraph[State, Context, State, State]:
    """The firstpass graph for LangGraph's server; embedded model specs start firstpass's own model servers."""
    register_provider("embedded", _embedded)
    return build_graph()
