"""LangGraph's stream as copydesk events, with the thread's transcript kept in step.

`drive` runs a compiled topology and turns what LangGraph streams (tasks, message chunks,
node updates, custom events) into `TurnStarted`, `Token`, `Restart` and `Turn` (message
chunks, and so token streaming from the server, only for a `live` run: one somebody
watches); each node
update is appended to the JSONL transcript before its `Turn` is yielded, so a reader never
sees a turn the transcript lacks. `last_result` waits a stream out for its `RunResult`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import RunControl
from langgraph.types import StreamMode

from copydesk.agents.client import STRUCTURED_TAG
from copydesk.agents.client.resilience import RESTART_EVENT
from copydesk.graphs.events import Event, Restart, RunResult, Token, Turn, TurnStarted
from copydesk.graphs.transcript import Transcript

__all__ = ["drive", "last_result", "transcript_lines"]


async def drive(
    compiled: CompiledStateGraph[Any, Any, Any, Any],
    start: Any,
    config: RunnableConfig,
    transcript: Transcript,
    control: RunControl | None = None,
    *,
    live: bool = True,
) -> AsyncIterator[Event]:
    """Run `compiled` from `start` and yield each event as it happens (not the `RunResult`).

    Args:
        compiled: The topology, compiled with a checkpointer.
        start: The input: a first state, a `Command(resume=...)`, or None to go on.
        config: The run's config (its thread id and checkpoint metadata).
        transcript: The thread's transcript; each node's new messages are appended to it.
        control: Drains the run at its next step when asked (`copydesk.graphs.stopping`);
            the stream then ends with LangGraph's `GraphDrained`.
        live: Stream the replies token by token. Without LangGraph's "messages" stream
            listening, the chat models ask for whole replies: no `Token` events, and no
            per-token callbacks, chunks or wake-ups for a run nobody watches.
    """
    written = await transcript.aids()  # read once; each turn's append keeps it current
    modes: list[StreamMode] = ["tasks", "updates", "custom"]
    if live:
        modes.append("messages")
    stream = compiled.astream(start, config, stream_mode=modes, durability="sync", control=control)
    async for mode, item in stream:
        payload: Any = item
        if mode == "tasks":
            if "result" not in payload and not str(payload["name"]).startswith("__"):
                yield TurnStarted(str(payload["name"]))
        elif mode == "messages":
            chunk, meta = payload
            # Whole messages are node outputs already reported by "updates"; only chunks
            # are live tokens.
            if isinstance(chunk, AIMessageChunk) and chunk.text:
                structured = STRUCTURED_TAG in (meta.get("tags") or [])
                yield Token(str(meta.get("langgraph_node", "")), chunk.text, structured)
        elif mode == "custom":
            if isinstance(payload, dict) and payload.get("kind") == RESTART_EVENT:
                yield Restart(str(payload["agent"]), str(payload.get("reason", "")))
        elif mode == "updates":
            for node, update in payload.items():
                if not isinstance(update, dict) or node.startswith("__"):
                    continue
                await transcript.aappend(transcript_lines(node, update), written)
                yield Turn(node, update)


def transcript_lines(node: str, update: dict[str, Any]) -> list[dict[str, Any]]:
    """The transcript lines of a node's update: one per message, with its round and usage."""
    round_ = update.get("round")
    if round_ is None and update.get("verdicts"):
        round_ = update["verdicts"][-1]["round"]
    usage = (update.get("usage") or {}).get(node)
    prompt = (update.get("prompts") or {}).get(node)
    lines = []
    for message in update.get("messages") or []:
        if isinstance(message, BaseMessage):
            lines.append(
                {
                    "id": message.id,
                    "agent": message.name or node,
                    "round": round_,
                    "text": message.text,
                    "usage": usage,
                    "prompt": prompt,
                }
            )
    return lines


async def last_result(events: AsyncIterator[Event]) -> RunResult:
    """Consume a conversation stream and return the `RunResult` it ends with."""
    result: RunResult | None = None
    async for event in events:
        if isinstance(event, RunResult):
            result = event
    if result is None:
        raise RuntimeError("the conversation stream ended without a result")
    return result
