"""Typed replies from a llama.cpp-like server: tools refused, a tool call cut at the cap or
ended early, raw newlines in JSON strings, room for a verdict, bounded fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.typed import TYPED_MIN_CAP, typed_tool
from copydesk.agents.roles import Ruling, choice_schema
from copydesk.agents.verdict import Verdict
from tests._capabilities import _llama, _said
from tests._client import VERDICT_PROMPT, TokenListener
from tests.fakes import Reply

LONG_SUMMARY = "The draft makes its case for street trees with shade, cooler air and calm. " * 2


def _answering(verdict: dict[str, Any]) -> Callable[[dict[str, Any]], Reply]:
    """A responder that answers every request with `verdict` as a forced tool call."""
    return lambda body: Reply(tool_calls=[{"name": "Verdict", "arguments": json.dumps(verdict)}])


async def _typed_from_llama(
    responder: Callable[[dict[str, Any]], Reply],
    *,
    stream: bool,
    mode: str = "function_calling",
    params: dict[str, Any] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """One verdict asked of a llama.cpp-like server answering with `responder` (streamed when
    `stream`): the typed reply and the body of every chat request it took."""
    with _llama() as server:
        server.responder = responder
        async with OpenAIClient(
            base_url=server.base_url, api_key=SecretStr("k"), structured_output=mode
        ) as client:
            config = {"callbacks": [TokenListener()]} if stream else None
            typed = await client.structured(VERDICT_PROMPT, Verdict, config=config, params=params)
        return typed, [r.body or {} for r in server.chat_requests()]


async def test_refused_tools_fall_back_to_json_asked_for_in_the_prompt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """json_schema and tools both refused: the schema goes in the prompt; each said once."""
    with _llama(refuse_tools=True) as server:
        async with OpenAIClient(base_url=server.base_url, api_key=SecretStr("k")) as client:
            first = await client.structured(VERDICT_PROMPT, Verdict)
            second = await client.structured(VERDICT_PROMPT, Verdict)
        bodies = [r.body or {} for r in server.chat_requests()]
    assert isinstance(first.value, Verdict) and isinstance(second.value, Verdict)
    assert ["response_format" in b for b in bodies] == [True, False, False, False]
    assert ["tools" in b for b in bodies] == [False, True, False, False]
    assert "matching this JSON schema" in str(bodies[-1]["messages"][-1]["content"])
    assert _said(caplog, "does not accept a json_schema") == 1
    assert _said(caplog, "does not accept a forced tool call") == 1
    assert "Input should be 'text' or 'json_object'" in caplog.text  # the server's words


@pytest.mark.parametrize("stream", [True, False])
async def test_a_tool_call_cut_at_the_cap_is_asked_again_with_room(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """llama.cpp ends a tool call cut at `max_tokens` with `tool_calls`, not `length`, and
    langchain would close its JSON: the cut is seen, never taken as the verdict, and asked
    for again with twice the cap."""
    summary = LONG_SUMMARY
    caplog.set_level(logging.INFO, logger="copydesk.client")
    typed, bodies = await _typed_from_llama(
        _answering({"decision": "approve", "issues": [], "summary": summary}),
        stream=stream,
        params={"max_tokens": 30},
    )
    assert typed.value.summary == summary  # the whole reply, not a closed-up cut one
    assert [b["max_tokens"] for b in bodies] == [30, 60]
    assert "cut at the output cap (30 tokens)" in caplog.text


@pytest.mark.parametrize("stream", [True, False])
async def test_a_tool_call_ended_early_is_asked_again_with_the_same_cap(
    stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A tool call whose arguments stop far below the cap the client sent (in the body as
    `max_tokens`, for llama.cpp) was ended by the server, not by the cap: asked again as it
    was, never taken as cut at the cap (doubled caps, then 'not a valid Verdict')."""
    verdict = {"decision": "approve", "issues": [], "summary": "Clear."}
    replies = iter(['{"decision": "approve", "issues": [], "summ', json.dumps(verdict)])
    caplog.set_level(logging.INFO, logger="copydesk.client")
    typed, bodies = await _typed_from_llama(
        lambda body: Reply(tool_calls=[{"name": "Verdict", "arguments": next(replies)}]),
        stream=stream,
    )
    assert typed.value.summary == "Clear."
    assert [b["max_tokens"] for b in bodies] == [1024, 1024]  # the default cap, kept
    assert "cut at the output cap" not in caplog.text


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("mode", ["function_calling", "json_prompt"])
async def test_a_raw_newline_inside_a_json_string_is_taken(stream: bool, mode: str) -> None:
    """llama.cpp's grammar lets Gemma write newlines into a string unescaped: the reply is
    whole JSON but for that, and is taken at the first request (it was taken for a call
    ended early, five times, then 'cannot give a typed reply')."""
    raw = '{"decision": "revise", "issues": [], "summary": "Too short.\nSay more."}'
    typed, requests = await _typed_from_llama(
        lambda body: (
            Reply(content=raw)
            if mode == "json_prompt"
            else Reply(tool_calls=[{"name": "Verdict", "arguments": raw}])
        ),
        stream=stream,
        mode=mode,
    )
    assert typed.value.summary == "Too short.\nSay more."
    assert len(requests) == 1


async def test_a_typed_reply_gets_room_under_a_cap_meant_for_short_prose() -> None:
    """A client capped at 30 tokens for its drafts still asks a verdict with room for one:
    a cut typed reply would only be thrown away and asked again."""
    summary = LONG_SUMMARY
    with _llama() as server:
        server.responder = _answering({"decision": "approve", "issues": [], "summary": summary})
        async with OpenAIClient(
            base_url=server.base_url,
            api_key=SecretStr("k"),
            structured_output="function_calling",
            max_output_tokens=30,
        ) as client:
            typed = await client.structured(VERDICT_PROMPT, Verdict)
            await client.complete(VERDICT_PROMPT)  # a draft: the client's own cap
        bodies = [r.body or {} for r in server.chat_requests()]
    assert typed.value.summary == summary
    assert [b["max_tokens"] for b in bodies] == [TYPED_MIN_CAP, 30]  # one verdict request


async def test_typed_fields_are_bounded_for_grammar_servers_and_not_for_openai() -> None:
    """A llama.cpp-like server gets the verdict's lists and texts bounded (its grammar then
    closes a summary that a small model would write on until the cap cut it, as Gemma 3 270M
    did); OpenAI's strict schema gets no length bounds, which it refuses."""
    with _llama() as server:
        async with OpenAIClient(
            base_url=server.base_url, api_key=SecretStr("k"), structured_output="function_calling"
        ) as client:
            typed = await client.structured(VERDICT_PROMPT, Verdict)
        [body] = [r.body or {} for r in server.chat_requests()]
    assert isinstance(typed.value, Verdict)
    sent = body["tools"][0]["function"]["parameters"]["properties"]
    assert sent["summary"]["maxLength"] == 200 and sent["issues"]["maxItems"] == 3
    assert sent["issues"]["items"]["properties"]["quote"]["maxLength"] == 100
    for schema in (Verdict, Ruling, choice_schema(("writer", "editor"))):
        unbounded = json.dumps(typed_tool(schema, bounded=False))
        assert "maxLength" not in unbounded and "maxItems" not in unbounded
        assert "maxLength" in json.dumps(typed_tool(schema, bounded=True))
