"""The thread list: each thread's latest checkpoint, read from the checkpoint store alone.

Kept apart from `ConversationManager` so `copydesk threads` opens only the checkpoint store: no
topology is compiled, no model client or memory store is made. On the default SQLite store the
rows are read without LangGraph at all (`copydesk.memory.checkpoint_rows`), which keeps the
command's
start cheap; other stores, and rows that reader does not know, go through the checkpointer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from copydesk.graphs.events import ThreadInfo

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from copydesk.memory.runs import RunRecord

__all__ = ["list_threads", "threads_at"]


async def threads_at(url: str) -> list[ThreadInfo]:
    """Every thread in the checkpoint store `url` names, most recently updated first."""
    from copydesk.memory.checkpoint import open_checkpointer, sqlite_path

    if url.startswith("sqlite:"):
        from copydesk.memory.checkpoint_rows import latest_sqlite_checkpoints

        rows = await asyncio.to_thread(latest_sqlite_checkpoints, sqlite_path(url))
        if rows is not None:  # the file is checked: its stopped runs can be read
            stopped = await _stopped_runs(url)
            return _newest_first(
                _info(
                    row.thread_id,
                    row.metadata,
                    row.values,
                    row.ts,
                    paused=row.paused,
                    stopped=_stopped(stopped, row.thread_id, row.checkpoint_id),
                )
                for row in rows
            )
    async with open_checkpointer(url) as checkpointer:
        return await list_threads(checkpointer, await _stopped_runs(url))


async def _stopped_runs(url: str) -> Mapping[str, RunRecord]:
    from copydesk.memory.runs import open_run_table

    table = open_run_table(url)
    try:
        return await table.stopped()
    finally:
        await table.aclose()


def _stopped(stopped: Mapping[str, RunRecord], thread_id: str, checkpoint_id: str) -> str:
    """How the thread's last run was stopped at `checkpoint_id`, or ""."""
    record = stopped.get(thread_id)
    return record.state if record is not None and record.checkpoint_id == checkpoint_id else ""


async def list_threads(
    checkpointer: BaseCheckpointSaver[str], stopped: Mapping[str, RunRecord] | None = None
) -> list[ThreadInfo]:
    """Every thread with a checkpoint in `checkpointer`, most recently updated first.

    `stopped` (`RunTable.stopped()`) names the threads whose last run was stopped.
    """
    latest: dict[str, Any] = {}
    async for item in checkpointer.alist(None):
        thread_id = str(item.config["configurable"]["thread_id"])
        if item.config["configurable"].get("checkpoint_ns"):
            continue  # subgraph checkpoints belong to their parent thread
        known = latest.get(thread_id)
        if known is None or item.checkpoint["id"] > known.checkpoint["id"]:
            latest[thread_id] = item
    return _newest_first(
        _info(
            thread_id,
            item.metadata,
            item.checkpoint.get("channel_values", {}),
            str(item.checkpoint.get("ts", "")),
            paused=any(write[1] == "__interrupt__" for write in item.pending_writes or []),
            stopped=_stopped(stopped or {}, thread_id, str(item.checkpoint["id"])),
        )
        for thread_id, item in latest.items()
    )


def _info(
    thread_id: str,
    metadata: Mapping[str, Any],
    values: Mapping[str, Any],
    updated_at: str,
    *,
    paused: bool,
    stopped: str = "",
) -> ThreadInfo:
    # A stored "running" means no ending was reached: the run stopped (or is running in
    # another process); `resume` continues it. Named as `ConversationManager.result` names it.
    stored = str(values.get("status") or "running")
    status = stored.replace("running", "interrupted")
    ended_by = str(values.get("ended_by") or "") if stored != "running" else stopped
    return ThreadInfo(
        thread_id=thread_id,
        graph=str(metadata.get("graph", "")),
        topic=str(values.get("topic") or ""),
        status="waiting_for_review" if paused else status,
        rounds=int(values.get("round") or 0),
        updated_at=updated_at,
        ended_by="" if paused else ended_by,
    )


def _newest_first(threads: Sequence[ThreadInfo] | Any) -> list[ThreadInfo]:
    return sorted(threads, key=lambda t: t.updated_at, reverse=True)
