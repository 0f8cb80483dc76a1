"""The span of each checkpoint a LangGraph checkpointer writes, while tracing is on.

Any `BaseCheckpointSaver` (SQLite, PostgreSQL, memory) is traced the same way: its `aput`, the
write of one checkpoint, runs in a span `checkpoint write` naming the thread, the step and
what wrote it (`source`: input, loop, update, fork). With tracing off the saver is untouched.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from copydesk.agents.telemetry.core import AttributeValue, Telemetry

__all__ = ["trace_checkpoints"]

_TRACED = "_copydesk_traced"


def trace_checkpoints(saver: BaseCheckpointSaver[Any], telemetry: Telemetry) -> None:
    """Make each checkpoint `saver` writes a span of `telemetry` (once; none while off)."""
    if not telemetry.on or getattr(saver, _TRACED, False):
        return
    put = saver.aput

    async def aput(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        attributes: dict[str, AttributeValue] = {
            "copydesk.thread_id": str((config.get("configurable") or {}).get("thread_id", "")),
        }
        for key in ("step", "source"):
            value = metadata.get(key)
            if isinstance(value, str | int):
                attributes[f"copydesk.checkpoint.{key}"] = value
        with telemetry.span("checkpoint write", attributes):
            return await put(config, checkpoint, metadata, new_versions)

    saver.aput = aput  # type: ignore[method-assign]
    setattr(saver, _TRACED, True)
