"""The fake OpenAI server answers like OpenAI, driven by the real openai SDK and
langchain_openai: chat plain and streamed, tool calls, typed output, embeddings, models."""

from __future__ import annotations

import json
import math
from typing import Literal

import openai
import pytest
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from tests._fake_server import USER, Critique, chat

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._fake_server import client as client
from tests._fake_server import server as server
from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes._schema import example_for_schema

# --- plain and streamed chat -----------------------------------------------------------------


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
