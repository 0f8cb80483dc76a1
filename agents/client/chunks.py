"""A streamed reply's server-sent events, each `data:` line as one dict chunk.

Stream events that arrived together (one network read) are handed on as one chunk, plain
text deltas joined: each chunk costs a pass through langchain's callbacks, LangGraph's
message stream and copydesk's listeners, and a reply that arrives faster than it is read
paid that per token (half of a chat call's CPU on benchmarks/peers.py's 30-round row). A
stream that does not end as a reply raises `StreamCut` (`cuts.py`) after its last chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType
from typing import Any

import httpx
import openai

from copydesk.agents.client.cuts import Reading

__all__ = ["ChunkStream"]


class ChunkStream:
    """The server-sent events of a streamed reply, each `data:` line as one dict."""

    def __init__(self, response: httpx.Response, *, cap: int | None = None) -> None:
        self.response: Any = response
        self.cap = cap

    async def __aenter__(self) -> ChunkStream:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        request = self.response.request
        reading = Reading(request, self.cap)
        batches = _line_batches(self.response)
        try:
            async with contextlib.aclosing(batches):
                async for lines in batches:
                    chunks = [chunk for line in lines if (chunk := reading.chunk(line))]
                    for chunk in _joined(chunks):
                        yield chunk
        except httpx.TimeoutException as error:
            raise openai.APITimeoutError(request=request) from error
        except httpx.TransportError as error:
            raise openai.APIConnectionError(request=request) from error
        finally:
            await self.response.aclose()
        reading.check_complete()


async def _line_batches(response: Any) -> AsyncGenerator[list[str], None]:
    """The body's lines, each time with every line that has arrived by then.

    A task reads the lines as they come; each step hands on all that it read meanwhile (the
    lines of one network read come out of httpx one by one without waiting, so the task
    reads them all before the caller runs again)."""
    arrived: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for line in response.aiter_lines():
                arrived.put_nowait(line)
        except Exception as error:  # handed to the caller, raised there
            arrived.put_nowait(error)
        else:
            arrived.put_nowait(None)

    reader = asyncio.create_task(read())
    try:
        while True:
            items = [await arrived.get()]
            while not arrived.empty():
                items.append(arrived.get_nowait())
            lines = [item for item in items if isinstance(item, str)]
            if lines:
                yield lines
            last = items[-1]
            if isinstance(last, BaseException):
                raise last
            if last is None:
                return
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def _joined(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`chunks` with each run of plain text deltas that arrived together as one chunk.

    A server writes a token per event; what one read of the network brought is shown at
    once anyway, and every chunk costs a pass through langchain's callbacks, LangGraph's
    message stream and the listeners (most of a call's CPU when replies arrive faster than
    they are read). Role, tool-call, finish and usage chunks are kept as they are."""
    if len(chunks) < 2:
        return chunks
    joined: list[dict[str, Any]] = []
    for chunk in chunks:
        text = _text_delta(chunk)
        last = joined[-1] if joined else None
        if (
            text is not None
            and last is not None
            and _text_delta(last) is not None
            and "role" not in chunk["choices"][0]["delta"]
        ):
            last["choices"][0]["delta"]["content"] += text
            continue
        joined.append(chunk)
    return joined


def _text_delta(chunk: Any) -> str | None:
    """The text of a chunk that carries only text (one choice, no finish, no log-probs, no
    usage, no tool calls), else None."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list) or len(choices) != 1 or chunk.get("usage"):
        return None
    choice = choices[0]
    if not isinstance(choice, dict) or choice.get("finish_reason") or choice.get("logprobs"):
        return None
    delta = choice.get("delta")
    if not isinstance(delta, dict) or not delta.keys() <= {"role", "content", "refusal"}:
        return None
    content = delta.get("content")
    return content if isinstance(content, str) and delta.get("refusal") is None else None
