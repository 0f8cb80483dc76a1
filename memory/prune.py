"""Prune old checkpoints without breaking any thread, and report the bytes freed.

A checkpoint is kept when it is one of a thread's newest `keep_last`, when it waits for a
human (pending interrupt), when it is the tip of a branch (a fork or the timeline a fork
left) or the point a fork branched from, or when a kept checkpoint depends on it. A
checkpoint depends on its parent when some delta channel (`delta_keys`, e.g. `messages`) has
been written but has no full value in it (no snapshot): its state is rebuilt
by replaying the ancestors' writes, so every ancestor back to a full value stays. Threads
written with plain channels carry full values in every checkpoint, so their older
checkpoints go; a linear delta thread is already O(N) and keeps its history.

Works on SQLite and PostgreSQL checkpointers (the ones that persist); rows are deleted with
SQL because LangGraph's savers delete whole threads only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

__all__ = ["PruneReport", "plan_prune", "prune_checkpoints"]

INTERRUPT = "__interrupt__"


@dataclass(frozen=True)
class PruneReport:
    """What a prune did.

    Attributes:
        threads: Threads looked at.
        removed: Checkpoints deleted.
        kept: Checkpoints left.
        bytes_freed: Bytes of checkpoint, write and blob rows deleted.
    """

    threads: int
    removed: int
    kept: int
    bytes_freed: int

    def as_json(self) -> dict[str, int]:
        """A JSON-able dict."""
        return dict(self.__dict__)


def _id(item: CheckpointTuple) -> str:
    return str(item.config["configurable"]["checkpoint_id"])


def _parent(item: CheckpointTuple) -> str | None:
    parent = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return str(parent) if parent else None


def plan_prune(items: list[CheckpointTuple], keep_last: int, delta_keys: Iterable[str]) -> set[str]:
    """Ids of one thread's checkpoints that can go (see the module docstring)."""
    by_id = {_id(i): i for i in items}
    parents = {_id(i): _parent(i) for i in items}
    children = {p for p in parents.values() if p}
    counts = Counter(p for p in parents.values() if p)
    forks = {p for p, n in counts.items() if n > 1}  # where a branch left the timeline
    newest = sorted(by_id, reverse=True)[: max(keep_last, 0)]
    waiting = {_id(i) for i in items if any(w[1] == INTERRUPT for w in (i.pending_writes or []))}
    tips = set(by_id) - children
    keys = tuple(delta_keys)
    needed: set[str] = set()
    for start in {*newest, *waiting, *tips, *forks}:
        current: str | None = start
        while current is not None and current in by_id and current not in needed:
            needed.add(current)
            checkpoint = by_id[current].checkpoint
            values, versions = checkpoint["channel_values"], checkpoint["channel_versions"]
            # A delta channel that was written but holds no value here is rebuilt by replay.
            replayed = any(k in versions and k not in values for k in keys)
            current = parents[current] if replayed else None
    return set(by_id) - needed


async def prune_checkpoints(
    saver: BaseCheckpointSaver[Any],
    *,
    keep_last: int,
    thread_id: str | None = None,
    delta_keys: Iterable[str] = ("messages", "revisions", "verdicts"),
) -> PruneReport:
    """Delete prunable checkpoints of one thread (or all) and report what was freed.

    Raises:
        ValueError: The saver is not SQLite or PostgreSQL.
    """
    # By class name along the MRO: the savers may be `copydesk.memory._checked` subclasses, and
    # neither backend package needs importing to tell them apart.
    names = {k.__name__ for k in type(saver).__mro__}
    kind = next((n for n in ("AsyncSqliteSaver", "AsyncPostgresSaver") if n in names), "")
    if not kind:
        raise ValueError(
            f"pruning needs a SQLite or PostgreSQL checkpointer, not {type(saver).__name__}"
        )
    threads: dict[str, list[CheckpointTuple]] = {}
    config = {"configurable": {"thread_id": thread_id}} if thread_id else None
    async for item in saver.alist(config):  # type: ignore[arg-type]
        if item.config["configurable"].get("checkpoint_ns"):
            continue  # subgraph checkpoints are left with their parent thread
        threads.setdefault(str(item.config["configurable"]["thread_id"]), []).append(item)
    removed = kept = freed = 0
    for thread, items in threads.items():
        doomed = sorted(plan_prune(items, keep_last, delta_keys))
        kept += len(items) - len(doomed)
        if doomed:
            removed += len(doomed)
            if kind == "AsyncSqliteSaver":
                freed += await _delete_sqlite(saver, thread, doomed)
            else:
                freed += await _delete_postgres(saver, thread, doomed)
    return PruneReport(len(threads), removed, kept, freed)


async def _delete_sqlite(saver: Any, thread: str, ids: list[str]) -> int:
    marks = ",".join("?" * len(ids))
    where = f"thread_id = ? AND checkpoint_ns = '' AND checkpoint_id IN ({marks})"
    args = (thread, *ids)
    async with saver.lock:
        size = await saver.conn.execute(
            f"SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints "
            f"WHERE {where}",
            args,
        )
        (checkpoint_bytes,) = await size.fetchone()
        size = await saver.conn.execute(
            f"SELECT coalesce(sum(length(value)), 0) FROM writes WHERE {where}", args
        )
        (write_bytes,) = await size.fetchone()
        await saver.conn.execute(f"DELETE FROM writes WHERE {where}", args)
        await saver.conn.execute(f"DELETE FROM checkpoints WHERE {where}", args)
        await saver.conn.commit()
    return int(checkpoint_bytes) + int(write_bytes)


async def _delete_postgres(saver: Any, thread: str, ids: list[str]) -> int:
    where = "thread_id = %s AND checkpoint_ns = '' AND checkpoint_id = ANY(%s)"
    args = (thread, ids)
    async with saver._cursor() as cursor:
        await cursor.execute(
            "SELECT coalesce(sum(pg_column_size(checkpoint) + pg_column_size(metadata)), 0) "
            f"AS n FROM checkpoints WHERE {where}",
            args,
        )
        checkpoint_bytes = (await cursor.fetchone())["n"]
        await cursor.execute(
            f"SELECT coalesce(sum(length(blob)), 0) AS n FROM checkpoint_writes WHERE {where}",
            args,
        )
        write_bytes = (await cursor.fetchone())["n"]
        await cursor.execute(f"DELETE FROM checkpoint_writes WHERE {where}", args)
        await cursor.execute(f"DELETE FROM checkpoints WHERE {where}", args)
        orphans = (
            "FROM checkpoint_blobs b WHERE b.thread_id = %s AND b.checkpoint_ns = '' AND NOT "
            "EXISTS (SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id AND "
            "c.checkpoint_ns = b.checkpoint_ns AND "
            "c.checkpoint -> 'channel_versions' ->> b.channel = b.version)"
        )
        await cursor.execute(f"SELECT coalesce(sum(length(b.blob)), 0) AS n {orphans}", (thread,))
        blob_bytes = (await cursor.fetchone())["n"]
        await cursor.execute(f"DELETE {orphans}", (thread,))
    return int(checkpoint_bytes) + int(write_bytes) + int(blob_bytes)
