"""The fake OpenAI server records every request and resets to a fresh state; it takes chunked
bodies and async clients, and runs on its own from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from tests._fake_server import USER, chat

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._fake_server import client as client
from tests._fake_server import server as server
from tests.fakes import FakeOpenAIServer, Fault, Reply

ROOT = Path(__file__).resolve().parents[1]


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
