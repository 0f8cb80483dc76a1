"""The chat-completions wire under ChatOpenAI: plain JSON out, dict chunks in, one pooled
connection, and the openai SDK's error types for the retry logic above it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.client.wire import ChatCompletionsWire, ChunkStream, StreamCut
from copydesk.agents.verdict import Verdict
from tests._client import TokenListener
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes._payloads import chat_chunks
from tests.fakes.writing import EditorialResponder

PROMPT = [SystemMessage("You write."), HumanMessage("Topic: otters", name="copydesk")]


async def test_calls_share_one_kept_alive_connection(fake_server: FakeOpenAIServer) -> None:
    """Drafts and typed verdicts alike: every call reuses the pooled connection (a reply
    closed before its end would cost a new TCP connection per call). Two pools of 16, taken
    in turn: a connection each, kept alive."""
    fake_server.responder = EditorialResponder(decisions=("revise",))
    async with OpenAIClient(
        base_url=fake_server.base_url, api_key=SecretStr("k"), max_connections=32
    ) as client:
        for _ in range(4):
            reply = await client.complete(PROMPT, agent="writer")
            verdict = await client.structured(PROMPT, Verdict, agent="editor")
            assert reply.text and verdict.value.decision == "revise"
    assert fake_server.connections_opened == 2
    bodies = [r.body for r in fake_server.chat_requests()]
    assert len(bodies) == 8
    typed = [b for b in bodies if b is not None and "response_format" in b]
    assert len(typed) == 4 and "extra_body" not in typed[0]  # sent as the API's own field


async def test_request_is_the_payload_as_json_and_usage_arrives(
    fake_server: FakeOpenAIServer,
) -> None:
    """Message names and roles go out as written; the usage chunk is counted."""
    async with OpenAIClient(base_url=fake_server.base_url, api_key=SecretStr("k")) as client:
        reply = await client.complete([*PROMPT, AIMessage("A draft.")], agent="writer")
    [request] = fake_server.chat_requests()
    assert request.body is not None
    assert request.body["messages"][1] == {
        "role": "user",
        "content": "Topic: otters",
        "name": "copydesk",
    }
    assert request.body["messages"][2]["role"] == "assistant"
    assert request.headers["authorization"] == "Bearer k"
    assert reply.usage["prompt_tokens"] > 0 and reply.usage["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
    ],
)
async def test_error_statuses_raise_the_sdk_types_with_the_response(
    fake_server: FakeOpenAIServer, status: int, kind: type[openai.APIStatusError]
) -> None:
    fake_server.faults.add(Fault.status(status, retry_after=2))
    async with httpx.AsyncClient() as http:
        wire = ChatCompletionsWire(http, fake_server.base_url, "k")
        with pytest.raises(kind) as caught:
            await wire.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.status_code == status
    assert caught.value.response.headers.get("retry-after") == "2"


async def test_a_dropped_connection_is_retried_like_the_sdk_would(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.faults.add(Fault.drop())
    async with OpenAIClient(
        base_url=fake_server.base_url,
        api_key=SecretStr("k"),
        retry=RetryPolicy(max_retries=2, base=0.01, cap=0.02),
    ) as client:
        reply = await client.complete(PROMPT, agent="writer")
    assert reply.text
    assert len(fake_server.chat_requests()) == 2


async def test_streamed_replies_end_at_done_and_keep_the_connection(
    fake_server: FakeOpenAIServer,
) -> None:
    """Read through the wire as ChatOpenAI streams: dict chunks, then the pool reuses the
    connection for the next stream."""
    async with httpx.AsyncClient() as http:
        wire = ChatCompletionsWire(http, fake_server.base_url, "k")
        texts = []
        for _ in range(3):
            stream = await wire.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                chunks = [chunk async for chunk in stream]
            texts.append(
                "".join(
                    c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
                )
            )
            assert any(c.get("usage") for c in chunks)
    assert all(texts)
    assert fake_server.connections_opened == 1


WORDS = " ".join(f"word{n}" for n in range(40))


class ScriptedBody:
    """A streamed response body whose lines arrive as a test says: all at once, or one at
    a time each time `gate` gets a token (the `httpx.Response` surface `ChunkStream` reads)."""

    def __init__(self, lines: list[str], gate: asyncio.Queue[None] | None = None) -> None:
        self.lines, self.gate, self.request = lines, gate, None

    async def aiter_lines(self) -> AsyncIterator[str]:
        for line in self.lines:
            if self.gate is not None:
                await self.gate.get()
            yield line

    async def aclose(self) -> None:
        return None


def _sse_lines() -> list[str]:
    """A streamed reply of WORDS, a word per event, with a usage chunk and the end marker."""
    body = {"model": "m", "stream_options": {"include_usage": True}}
    usage = {"prompt_tokens": 3, "completion_tokens": 40, "total_tokens": 43}
    chunks = chat_chunks(body, Reply(content=WORDS), usage)
    return [f"data: {json.dumps(chunk)}" for chunk in chunks] + ["data: [DONE]"]


def _content(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]


async def test_text_that_arrived_together_is_handed_on_as_one_chunk() -> None:
    """The server sent a word per event and all of it had arrived: the role and every word
    come as one chunk, then the finish reason and the usage as they were."""
    chunks = [chunk async for chunk in ChunkStream(ScriptedBody(_sse_lines()))]
    assert "".join(_content(chunks)) == WORDS
    assert len(chunks) == 3
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[2]["choices"] == [] and chunks[2]["usage"]["completion_tokens"] == 40


async def test_text_that_arrives_word_by_word_still_streams() -> None:
    """Events that arrive one at a time (a model generating) are handed on one at a time:
    each line is let through only after the chunk before it was read."""
    lines = _sse_lines()
    gate: asyncio.Queue[None] = asyncio.Queue()
    gate.put_nowait(None)
    chunks = []
    async for chunk in ChunkStream(ScriptedBody(lines, gate)):
        chunks.append(chunk)
        gate.put_nowait(None)
    assert "".join(_content(chunks)) == WORDS
    assert len(chunks) == len(lines) - 1  # every event but [DONE], none joined


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("cap", "cut"), [(384, True), (8, False)])
async def test_a_tool_call_ended_far_below_the_cap_is_a_cut_stream(
    fake_server: FakeOpenAIServer, cap: int, cut: bool, stream: bool
) -> None:
    """llama.cpp ends a running tool call with its usual finish reason when another request
    interrupts it: arguments that stop far below the cap are a cut stream (retried, and
    taught as one-at-a-time when our calls overlapped), not a reply cut at the cap (which is
    asked again with twice the cap)."""
    partial = '{"decision": "approve", "issues": [], "summ'
    fake_server.responder = lambda body: Reply(
        tool_calls=[{"name": "Verdict", "arguments": partial}]
    )
    async with httpx.AsyncClient() as http:
        wire = ChatCompletionsWire(http, fake_server.base_url, "k")
        request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

        async def finish_reasons() -> list[str | None]:
            if not stream:
                reply = await wire.create(**request, max_tokens=cap)
                return [choice["finish_reason"] for choice in reply["choices"]]
            chunks = wire.create(**request, stream=True, max_tokens=cap)
            return [c["choices"][0]["finish_reason"] async for c in await chunks if c["choices"]]

        if cut:
            with pytest.raises(StreamCut, match="far below the output cap"):
                await finish_reasons()
            return
        finishes = await finish_reasons()
    assert finishes[-1] == "length"  # at the cap: asked again with room


async def test_a_whole_tool_call_said_length_is_taken_whole(
    fake_server: FakeOpenAIServer,
) -> None:
    """llama.cpp was seen ending a tool call whose arguments were complete JSON with
    `length`: the call is whole, and the verdict is taken at the first request."""
    verdict = {"decision": "approve", "issues": [], "summary": "Clear and short."}
    fake_server.responder = lambda body: Reply(
        tool_calls=[{"name": "Verdict", "arguments": json.dumps(verdict)}], finish_reason="length"
    )
    async with OpenAIClient(
        base_url=fake_server.base_url, api_key=SecretStr("k"), structured_output="function_calling"
    ) as client:
        typed = await client.structured(PROMPT, Verdict, config={"callbacks": [TokenListener()]})
        async with httpx.AsyncClient() as http:  # and a whole reply on the wire
            wire = ChatCompletionsWire(http, fake_server.base_url, "k")
            whole = await wire.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert typed.value == Verdict.model_validate(verdict)
    assert len(fake_server.chat_requests()) == 2  # one for the verdict, one on the wire
    assert whole["choices"][0]["finish_reason"] == "tool_calls"
