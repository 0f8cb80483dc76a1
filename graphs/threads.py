"""The thread list: each thread's latest checkpoint, read from the checkpoint store alone.

Kept apart from `ConversationManager` so `copydesk threads` opens only the checkpointer: no
topology is compiled, no model client or memory store is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphs.events import ThreadInfo

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

__all__ = ["list_threads"]


async def list_threads(checkpointer: BaseCheckpointSaver[str]) -> list[ThreadInfo]:
    """Every thread with a checkpoint, most recently updated first."""
    latest: dict[str, Any] = {}
    async for item in checkpointer.alist(None):
        thread_id = str(item.config["configurable"]["thread_id"])
        if item.config["configurable"].get("checkpoint_ns"):
            continue  # subgraph checkpoints belong to their parent thread
        known = latest.get(thread_id)
        if known is None or item.checkpoint["id"] > known.checkpoint["id"]:
            latest[thread_id] = item
    out = []
    for thread_id, item in latest.items():
        values = item.checkpoint.get("channel_values", {})
        paused = any(write[1] == "__interrupt__" for write in item.pending_writes or [])
        out.append(
            ThreadInfo(
                thread_id=thread_id,
                graph=str(item.metadata.get("graph", "")),
                topic=str(values.get("topic", "")),
                # A stored "running" means no ending was reached: the thread can be resumed.
                status="waiting_for_review"
                if paused
                else str(values.get("status", "running")).replace("running", "unfinished"),
                rounds=int(values.get("round", 0)),
                updated_at=str(item.checkpoint.get("ts", "")),
            )
        )
    return sorted(out, key=lambda t: t.updated_at, reverse=True)
