"""The fake OpenAI server's refusals and faults, as the real openai SDK and langchain_openai
see them: a wrong key, error statuses, cut streams, bad bodies, delays and hangs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import ValidationError

from tests._fake_server import Critique, chat

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._fake_server import client as client
from tests._fake_server import server as server
from tests.fakes import FakeOpenAIServer, Fault


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


def drain(stream: Iterator[Any], into: list[Any]) -> None:
    for item in stream:
        into.append(item)


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


def test_fault_constructors_validate() -> None:
    with pytest.raises(ValueError, match="4xx/5xx"):
        Fault.status(200)
    with pytest.raises(ValueError, match=">= 0"):
        Fault.delay(-1)
    assert Fault.hang(2).pause == 2.0
    assert Fault.drop().pause == 0.0
