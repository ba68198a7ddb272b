"""Retention: delete the checkpoints of threads that finished long ago (LangGraph's tables otherwise grow without
limit). The item keeps everything it shows and the audit log and eval cases are never touched; only undo, which
needs the checkpoint a decision was taken on, is refused for a pruned item (its window is minutes, not days)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from firstpass.db import Store
from firstpass.db.checkpoints import prune_threads

# Threads per round: one statement set on PostgreSQL, and a crash loses at most this much marking (a re-prune
# of a thread already pruned deletes nothing).
BATCH = 500


def prune_checkpoints(store: Store, saver: BaseCheckpointSaver[Any], older_than_days: float,
                      on_batch: Callable[[int], None] | None = None) -> int:
    """Delete the checkpoints of finished threads not changed for `older_than_days`; how many threads."""
    if older_than_days <= 0:
        raise ValueError("--older-than must be a positive number of days")
    before = time.time() - older_than_days * 86400
    pruned = 0
    while batch := store.prunable_threads(before, BATCH):
        prune_threads(saver, [thread for _, thread in batch])
        store.mark_pruned([item_id for item_id, _ in batch])
        pruned += len(batch)
        if on_batch is not None:
            on_batch(pruned)
    return pruned
