"""One run of a thread as one trace: the span of a `run`, `resume` or `fork`.

`traced_run` wraps a run's events (`streaming.drive`, then the `RunResult`) in a span while
tracing is on: `run turn_taking`, `resume turn_taking`, ..., carrying the thread id as
`session.id` (Phoenix groups a thread's traces by it) and the run's ending. The span's W3C
`traceparent` goes into the run's checkpoint metadata, so a later `resume` or `fork` of the
thread links its own trace to this one. With tracing off the events are the same generator,
untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import RunControl

from copydesk.agents.telemetry import Telemetry
from copydesk.graphs.events import Event, RunResult
from copydesk.graphs.streaming import drive
from copydesk.graphs.transcript import Transcript

__all__ = ["earlier_trace", "traced_run"]


def earlier_trace(metadata: Mapping[str, Any]) -> list[str]:
    """The `traceparent` of the run that wrote a checkpoint with `metadata`, if traced."""
    value = metadata.get("traceparent")
    return [value] if isinstance(value, str) and value else []


def traced_run(
    telemetry: Telemetry,
    kind: str,
    compiled: CompiledStateGraph[Any, Any, Any, Any],
    start: Any,
    config: RunnableConfig,
    transcript: Transcript,
    result: Callable[[], Awaitable[RunResult]],
    *,
    earlier: Sequence[str] = (),
    live: bool = True,
    control: RunControl | None = None,
) -> AsyncIterator[Event]:
    """The run's events then its `result()`, in one span of `telemetry` named
    `KIND TOPOLOGY`, linked to the `earlier` runs' traces (`live`, `control`: as `drive` takes
    them; a drained run ends with `GraphDrained`, before its result)."""
    thread_id = str((config.get("configurable") or {}).get("thread_id", ""))

    async def events(traceparent: str | None) -> AsyncIterator[Event]:
        run_config = config
        if traceparent is not None:
            metadata = {**config.get("metadata", {}), "traceparent": traceparent}
            run_config = {**config, "metadata": metadata}
        async for event in drive(compiled, start, run_config, transcript, control, live=live):
            yield event
        ended = await result()
        telemetry.annotate({"copydesk.status": ended.status, "copydesk.rounds": ended.rounds})
        yield ended

    attributes = {
        "copydesk.run": kind,
        "copydesk.topology": compiled.name,
        "session.id": thread_id,
        "gen_ai.conversation.id": thread_id,
        "openinference.span.kind": "CHAIN",
    }
    if earlier:  # links are not shown by every viewer (Phoenix): the earlier run, said plainly
        attributes["copydesk.continues"] = earlier[-1]
    return telemetry.within(f"{kind} {compiled.name}", attributes, events, links=earlier)
