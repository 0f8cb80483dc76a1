"""Tests for the fake OpenAI server, driven by the real openai SDK and langchain_openai."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from pydantic import BaseModel, Field, ValidationError

from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes._schema import example_for_schema

ROOT = Path(__file__).resolve().parents[1]
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
        yield sdk


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=USER, **kwargs)


def drain(stream: Iterator[Any], into: list[Any]) -> None:
    for item in stream:
        into.append(item)


class Source(BaseModel):
    url: str
    kind: Literal["web", "book"]


class Critique(BaseModel):
    """An editor's verdict."""

    verdict: str
    score: int = Field(ge=3, le=9)
    sources: list[Source]
    tags: list[str] | None
    written_at: datetime


# --- plain and streamed chat ---------------------------------------------------------------


def test_plain_completion(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    completion = raw.parse()

    assert completion.model == "gpt-4o-mini"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Fake reply 1 to: Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == math.ceil(len("Hello there") / 4)
    assert completion.usage.completion_tokens == math.ceil(len("Fake reply 1 to: Hello there") / 4)
    assert raw.headers["x-ratelimit-remaining-requests"] == "10000"
    assert int(raw.headers["x-ratelimit-limit-tokens"]) > 1_000_000
    assert chat(client).choices[0].message.content == "Fake reply 2 to: Hello there"


def test_stream_reassembles_content_and_reports_usage(client: openai.OpenAI) -> None:
    text = "Please write a short opening paragraph about lighthouses"
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == f"Fake reply 1 to: {text}"
    assert len(chunks) > 5
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == math.ceil(len(text) / 4)
    assert chunks[-1].usage.total_tokens == (
        chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    )


def test_custom_responder_tool_calls_stream_in_fragments(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    arguments = json.dumps({"section": "intro", "notes": ["tighten", "cite sources"]})
    server.responder = lambda body: Reply(
        tool_calls=[{"name": "revise", "arguments": arguments}], completion_tokens=42
    )

    plain = chat(client)
    assert plain.choices[0].finish_reason == "tool_calls"
    call = plain.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("revise", arguments)
    assert call.id.startswith("call_")
    assert plain.usage.completion_tokens == 42

    fragments: list[str] = []
    for chunk in chat(client, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            assert delta.index == 0
            fragments.append(delta.function.arguments or "")
    assert len(fragments) > 3
    assert "".join(fragments) == arguments


def test_langchain_invoke_and_stream(server: FakeOpenAIServer) -> None:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="k", max_retries=0)

    answer = model.invoke("Draft a headline")
    streamed = "".join(str(part.content) for part in model.stream("Draft a subtitle"))

    assert answer.content == "Fake reply 1 to: Draft a headline"
    assert streamed == "Fake reply 2 to: Draft a subtitle"
    assert len(server.chat_requests()) == 2


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output_validates(
    server: FakeOpenAIServer, method: Literal["json_schema", "function_calling"]
) -> None:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="k", max_retries=0)

    result = model.with_structured_output(Critique, method=method).invoke("Critique this")

    assert isinstance(result, Critique)
    assert result.score == 3
    assert result.sources[0].kind == "web"
    body = server.chat_requests()[0].body
    assert body is not None
    key = "response_format" if method == "json_schema" else "tools"
    assert key in body


def test_default_responder_answers_text_after_single_tool_result(client: openai.OpenAI) -> None:
    tools: list[ChatCompletionFunctionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
        }
    ]

    first = chat(client, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    history: list[ChatCompletionMessageParam] = [
        *USER,
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "found"},
    ]
    followup = client.chat.completions.create(model="m", tools=tools, messages=history)

    assert json.loads(call.function.arguments) == {"q": "example"}
    assert followup.choices[0].message.content == "Fake reply 2 to: Hello there"
    assert followup.choices[0].message.tool_calls is None


def test_schema_generator_follows_refs_and_breaks_recursion() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "required": ["name", "children", "parent"],
                "properties": {
                    "name": {"type": "string", "minLength": 10},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                },
            },
        },
        "type": "object",
        "required": ["root", "mode", "ratio"],
        "properties": {
            "root": {"$ref": "#/$defs/Node"},
            "mode": {"enum": ["draft", "final"]},
            "ratio": {"type": "number", "exclusiveMaximum": 1},
        },
    }

    value = example_for_schema(schema)

    assert value["mode"] == "draft"
    assert value["ratio"] < 1
    assert value["root"]["name"] == "examplexxx"
    assert len(value["root"]["children"]) == 1
    json.dumps(value)  # finite and serialisable despite the recursive schema


# --- embeddings and models -------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(client: openai.OpenAI) -> None:
    texts = ["the lighthouse keeper", "the lighthouse keepers", "quarterly tax filing"]

    first = client.embeddings.create(model="text-embedding-3-small", input=texts)
    again = client.embeddings.create(model="e", input=texts, encoding_format="float")
    small = client.embeddings.create(model="e", input="one text", dimensions=64)

    vectors = [item.embedding for item in first.data]
    assert [len(v) for v in vectors] == [1536, 1536, 1536]
    for item, vector in zip(again.data, vectors, strict=True):  # float32 base64 vs float
        assert item.embedding == pytest.approx(vector, abs=1e-6)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    near = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    far = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert near > 0.8 > far
    assert len(small.data[0].embedding) == 64
    assert first.usage.prompt_tokens == sum(math.ceil(len(t) / 4) for t in texts)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]

    assert "gpt-4o-mini" in ids
    assert len(ids) >= 2


# --- auth and faults -------------------------------------------------------------------------


def test_wrong_api_key_gets_401() -> None:
    with (
        FakeOpenAIServer(api_key="secret") as server,
        openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0) as bad,
    ):
        with pytest.raises(openai.AuthenticationError) as caught:
            chat(bad)
        with openai.OpenAI(base_url=server.base_url, api_key="secret", max_retries=0) as good:
            assert chat(good).choices[0].message.content
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.message.startswith("Error code: 401 - ")
    assert "Incorrect API key provided" in caught.value.message


def test_429_fault_exposes_retry_after(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.faults.add(Fault.status(429, retry_after=2, retry_after_ms=1500))

    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)

    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.response.headers["retry-after-ms"] == "1500"
    assert caught.value.code == "rate_limit_exceeded"
    assert len(server.faults) == 0
    assert chat(client).choices[0].message.content == "Fake reply 1 to: Hello there"


def test_500_fault_and_always_fault(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.always = Fault.status(500)
    server.faults.add(Fault.status(503))

    with pytest.raises(openai.InternalServerError) as once:
        chat(client)
    with pytest.raises(openai.InternalServerError) as persistent:
        client.embeddings.create(model="e", input="x")
    server.always = None

    assert once.value.status_code == 503
    assert persistent.value.status_code == 500
    assert chat(client).choices[0].finish_reason == "stop"


def test_cut_stream_raises_in_client(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.faults.add(Fault.cut_stream(after_chunks=3), Fault.cut_stream(after_chunks=0))
    received: list[Any] = []

    stream = chat(client, stream=True)
    with pytest.raises(openai.APIConnectionError):
        drain(stream, received)
    with pytest.raises(openai.APIConnectionError):
        chat(client)

    assert len(received) == 3


def test_malformed_body_raises(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.faults.add(Fault.malformed(), Fault.malformed())

    with pytest.raises(json.JSONDecodeError):
        chat(client)
    with pytest.raises(json.JSONDecodeError):
        list(chat(client, stream=True))


def test_drop_raises_connection_error(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.faults.add(Fault.drop())

    with pytest.raises(openai.APIConnectionError):
        chat(client)
    assert len(server.requests) == 1


def test_bad_content_breaks_structured_output(server: FakeOpenAIServer) -> None:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="k", max_retries=0)
    structured = model.with_structured_output(Critique, method="json_schema")
    server.faults.add(Fault.bad_content("{not valid json"))

    with pytest.raises(ValidationError, match="Invalid JSON"):
        structured.invoke("Critique this")
    assert isinstance(structured.invoke("Critique this"), Critique)


def test_latency_delay_and_hang(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    """Latency and a one-shot delay hold the answer back (a client timeout shorter than the
    hold fails); once the faults are used up the same timeout succeeds."""
    server.latency = 0.05
    server.faults.add(Fault.delay(2.0), Fault.hang(5))

    with pytest.raises(openai.APITimeoutError):
        chat(client, timeout=1.0)  # latency + delay: 2.05 s
    with pytest.raises(openai.APITimeoutError):
        chat(client, timeout=0.3)  # hang
    assert chat(client, timeout=30).choices[0].message.content  # latency only


# --- rate budget, recording, lifecycle -------------------------------------------------------


def test_enforce_rps_rejects_excess_of_burst(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    server.enforce(rps=5)

    def attempt(_: int) -> openai.RateLimitError | None:
        try:
            chat(client)
        except openai.RateLimitError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    rejected = [exc for exc in outcomes if exc is not None]

    assert outcomes.count(None) == 5
    assert len(rejected) == 15
    assert all(0 < float(exc.response.headers["retry-after"]) <= 1 for exc in rejected)
    assert all(int(exc.response.headers["retry-after-ms"]) >= 1 for exc in rejected)
    assert all(exc.response.headers["x-ratelimit-limit-requests"] == "5" for exc in rejected)
    assert server.rejected_429 == 15
    assert len(server.chat_requests()) == 20


def test_enforce_tpm_uses_max_tokens_and_can_be_turned_off(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    server.enforce(tpm=100)

    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=USER, max_tokens=60
    )
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, max_tokens=60)
    server.enforce()

    assert raw.headers["x-ratelimit-limit-tokens"] == "100"
    assert raw.headers["x-ratelimit-remaining-tokens"] == str(100 - 60 - 3)
    assert 55 < float(caught.value.response.headers["retry-after"]) <= 60
    assert chat(client, max_tokens=60).choices
    assert server.rejected_429 == 1


def test_enforce_per_model_limits_and_counts(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    """A model-specific limit applies to that model only; 429s are counted per model."""
    server.enforce(rps=1)
    server.enforce(rps=3, model="text-embedding-3-small")

    def embed() -> bool:
        try:
            client.embeddings.create(model="text-embedding-3-small", input="x")
        except openai.RateLimitError:
            return False
        return True

    def talk() -> bool:
        try:
            chat(client)
        except openai.RateLimitError:
            return False
        return True

    embedded = [embed() for _ in range(5)]
    talked = [talk() for _ in range(3)]

    assert embedded == [True, True, True, False, False]
    assert talked == [True, False, False]
    assert server.rejected_429_by_model() == {"text-embedding-3-small": 2, "gpt-4o-mini": 2}
    assert server.rejected_429 == 4
    server.enforce()  # the general call drops the model-specific limit too
    assert all(embed() for _ in range(5))
    server.reset()
    assert server.rejected_429_by_model() == {}


def test_requests_are_recorded_and_reset(server: FakeOpenAIServer, client: openai.OpenAI) -> None:
    server.faults.add(Fault.drop())
    server.always = Fault.status(500)
    with pytest.raises(openai.APIConnectionError):
        client.embeddings.create(model="e", input="x")
    server.always = None
    client.models.list()
    chat(client, temperature=0.5)

    recorded = server.requests
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", "/v1/embeddings"),
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ]
    assert recorded[0].time <= recorded[1].time <= recorded[2].time
    assert recorded[2].headers["authorization"] == "Bearer k"
    assert recorded[2].body == {"model": "gpt-4o-mini", "messages": USER, "temperature": 0.5}
    assert recorded[1].body is None
    assert server.chat_requests() == [recorded[2]]

    server.latency = 1.0
    server.enforce(rps=1)
    server.faults.add(Fault.drop())
    server.responder = lambda body: Reply(content="custom")
    server.reset()

    assert server.requests == []
    assert len(server.faults) == 0
    assert server.latency == 0.0
    assert [chat(client).choices[0].message.content for _ in range(2)] == [
        "Fake reply 1 to: Hello there",
        "Fake reply 2 to: Hello there",
    ]


def test_chunked_request_body_is_accepted(server: FakeOpenAIServer) -> None:
    payload = json.dumps({"model": "m", "messages": USER}).encode()
    with httpx.Client() as http:
        response = http.post(
            f"{server.base_url}/chat/completions", content=iter([payload[:10], payload[10:]])
        )

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Fake reply 1 to: Hello there"
    assert server.requests[0].headers["transfer-encoding"] == "chunked"


async def test_async_client_streams(server: FakeOpenAIServer) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(model="m", messages=USER, stream=True)
        parts = [chunk.choices[0].delta.content or "" async for chunk in stream]

    assert "".join(parts) == "Fake reply 1 to: Hello there"


def test_cli_prints_base_url_and_exits_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--latency", "0.01", "--api-key", "K"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        name, _, base_url = line.partition("=")
        with openai.OpenAI(base_url=base_url, api_key="K", max_retries=0) as sdk:
            content = chat(sdk).choices[0].message.content
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert name == "FAKE_OPENAI_BASE_URL"
    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/v1")
    assert content == "Fake reply 1 to: Hello there"
    assert process.returncode == 0
    assert stderr == ""


def test_fault_constructors_validate() -> None:
    with pytest.raises(ValueError, match="4xx/5xx"):
        Fault.status(200)
    with pytest.raises(ValueError, match=">= 0"):
        Fault.delay(-1)
    assert Fault.hang(2).pause == 2.0
    assert Fault.drop().pause == 0.0
