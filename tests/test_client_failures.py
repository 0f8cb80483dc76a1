"""OpenAIClient giving up: out of retries or retry budget, an unreachable server, a rejected
key and the client errors that are never retried, each one line naming what to fix."""

from __future__ import annotations

import socket

import pytest

from copydesk.agents.errors import (
    ModelAuthError,
    ModelRequestError,
    ModelUnavailableError,
    fingerprint,
)
from tests._client import MESSAGES, ClientFactory, RecordingSleep

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._client import make_client as make_client
from tests._client import sleep as sleep
from tests.fakes import FakeOpenAIServer, Fault


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_exhausted_retries_raise_unavailable_then_recover(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """Persistent 500s end in ModelUnavailableError after max_retries + 1 requests; the same
    client works again once the server recovers."""
    fake_server.always = Fault.status(500)
    client = make_client(max_retries=2)

    with pytest.raises(ModelUnavailableError) as info:
        await client.complete(MESSAGES)

    message = str(info.value)
    assert fake_server.base_url in message
    assert "HTTP 500" in message
    assert "resume" in message
    assert "3 attempt(s)" in message
    assert "\n" not in message
    assert len(fake_server.chat_requests()) == 3
    assert len(sleep.delays) == 2
    assert client.ledger.calls == []

    fake_server.always = None
    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 4


async def test_retry_budget_stops_long_waits(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """No wait starts past the total budget: a Retry-After beyond it fails at once."""
    fake_server.faults.add(Fault.status(429, retry_after=30))
    client = make_client(max_retries=5, budget=5.0)

    with pytest.raises(ModelUnavailableError, match="HTTP 429"):
        await client.complete(MESSAGES)

    assert len(fake_server.chat_requests()) == 1
    assert sleep.delays == []


async def test_unreachable_server_names_the_url(
    sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A closed port gives ModelUnavailableError saying it cannot reach the URL."""
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    client = make_client(base_url=base_url, max_retries=2)

    with pytest.raises(ModelUnavailableError) as info:
        await client.complete(MESSAGES)

    assert f"cannot reach {base_url}" in str(info.value)
    assert "resume" in str(info.value)
    assert len(sleep.delays) == 2


async def test_rejected_key_is_named_by_fingerprint_only(
    sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A 401 gives ModelAuthError naming the key's fingerprint, never the key; no retries."""
    key = "sk-wrong-canary-123"
    with FakeOpenAIServer(api_key="sk-right") as server:
        client = make_client(base_url=server.base_url, api_key=key)
        try:
            with pytest.raises(ModelAuthError) as info:
                await client.complete(MESSAGES)
        finally:
            await client.aclose()
        requests = server.chat_requests()

    message = str(info.value)
    assert fingerprint(key) in message
    assert "HTTP 401" in message
    assert "OPENAI_API_KEY" in message
    leaks = [key[i : i + 6] for i in range(len(key) - 5) if key[i : i + 6] in message]
    assert leaks == []
    assert len(requests) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    ("code", "error", "needle"),
    [
        (400, ModelRequestError, "HTTP 400"),
        (422, ModelRequestError, "HTTP 422"),
        (404, ModelRequestError, "'gpt-4o-mini' not found"),
        (403, ModelAuthError, "HTTP 403"),
    ],
)
async def test_client_errors_are_not_retried(
    fake_server: FakeOpenAIServer,
    sleep: RecordingSleep,
    make_client: ClientFactory,
    code: int,
    error: type[Exception],
    needle: str,
) -> None:
    """4xx other than 408/409/429 fail at once with a one-line error naming the endpoint."""
    fake_server.always = Fault.status(code)
    client = make_client()

    with pytest.raises(error) as info:
        await client.complete(MESSAGES)

    assert needle in str(info.value)
    assert fake_server.base_url in str(info.value)
    assert len(fake_server.chat_requests()) == 1
    assert sleep.delays == []
