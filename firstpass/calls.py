"""The model call log: every attempt of every model call goes to the store, with the item's result when there is one.

A worker advancing an item collects the calls made for it and the store writes them in the transaction that saves
the item (one write instead of one per call); a call made outside such a block is written at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from firstpass.db import Store
from graph.models import CallLog, ModelCall

# The calls of the item being advanced in this context; LangGraph copies the context into the threads that run
# nodes, so they append to the same list.
_COLLECTING: ContextVar[list[ModelCall] | None] = ContextVar("firstpass_calls", default=None)


@contextmanager
def collected() -> Iterator[list[ModelCall]]:
    """Hold back the model calls made inside the block; the caller hands the list to the store's save."""
    calls: list[ModelCall] = []
    token = _COLLECTING.set(calls)
    try:
        yield calls
    finally:
        _COLLECTING.reset(token)


def store_log(store: Store) -> CallLog:
    """A call log that writes every model call attempt to the store, or holds it for the save of a `collected` block."""
    def log(call: ModelCall) -> None:
        pending = _COLLECTING.get()
        if pending is not None:
            pending.append(call)
        else:
            store.log_llm_call(call)
    return log
