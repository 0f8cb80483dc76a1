"""OpenAIClient's retries against the fake OpenAI server: which failures are retried, and how
long it waits (Retry-After in its every form, or backoff)."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from copydesk.agents.client.retry import RetryPolicy, retry_after
from copydesk.agents.verdict import Verdict
from tests._client import MESSAGES, VERDICT_PROMPT, ClientFactory, RecordingSleep, TokenListener

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._client import make_client as make_client
from tests._client import sleep as sleep
from tests.fakes import FakeOpenAIServer, Fault, Reply


async def test_429_burst_honours_retry_after(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """Three 429s with Retry-After 0.2 are retried, each wait at least the asked 0.2 s."""
    fake_server.faults.add(*[Fault.status(429, retry_after=0.2)] * 3)
    client = make_client(max_retries=3)

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 4
    assert len(sleep.delays) == 3
    assert all(0.2 <= d <= 0.2 + 0.25 for d in sleep.delays), sleep.delays
    assert client.ledger.calls[0].attempts == 4


async def test_retry_after_ms_is_honoured(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A retry-after-ms header sets the wait (and wins over Retry-After)."""
    fake_server.faults.add(Fault.status(429, retry_after=9, retry_after_ms=1500))
    client = make_client()

    await client.complete(MESSAGES)

    [delay] = sleep.delays
    assert 1.5 <= delay <= 1.75


@pytest.mark.parametrize("code", [408, 409, 500, 502, 503])
async def test_transient_statuses_are_retried_with_backoff(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory, code: int
) -> None:
    """408/409/5xx are retried; without Retry-After the waits stay under the backoff ceiling."""
    fake_server.faults.add(Fault.status(code), Fault.status(code))
    client = make_client(max_retries=3)

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 3
    assert len(sleep.delays) == 2
    policy = RetryPolicy()
    for attempt, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= policy.base * 2 ** (attempt - 1)


@pytest.mark.parametrize(
    "fault",
    [Fault.drop(), Fault.cut_stream(0), Fault.malformed()],
    ids=["dropped-connection", "cut-body", "malformed-body"],
)
async def test_broken_responses_are_retried(
    fake_server: FakeOpenAIServer,
    sleep: RecordingSleep,
    make_client: ClientFactory,
    fault: Fault,
) -> None:
    """A dropped connection, a body cut halfway and a non-JSON body are all retried."""
    fake_server.faults.add(fault)
    client = make_client()

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 2
    assert len(sleep.delays) == 1


async def test_cut_stream_is_retried_while_streaming(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """With a token listener the call streams; a stream cut mid-answer is retried in full."""
    fake_server.responder = lambda body: Reply(
        content="Street trees cool the city in summer and calm the traffic.",
        prompt_tokens=12,
        completion_tokens=11,
    )
    fake_server.faults.add(Fault.cut_stream(after_chunks=2))
    listener = TokenListener()
    client = make_client()

    reply = await client.complete(MESSAGES, config={"callbacks": [listener]})

    assert reply.text == "Street trees cool the city in summer and calm the traffic."
    requests = fake_server.chat_requests()
    assert len(requests) == 2
    assert all(r.body is not None and r.body.get("stream") is True for r in requests)
    assert len(sleep.delays) == 1
    assert listener.tokens  # tokens were streamed
    assert reply.usage["prompt_tokens"] == 12
    assert reply.usage["completion_tokens"] == 11


async def test_structured_call_retries_before_repairing(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """A 503 during a typed call is retried, not counted as a repair attempt."""
    fake_server.faults.add(Fault.status(503))
    client = make_client(max_repairs=0)

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert isinstance(result.value, Verdict)
    assert len(fake_server.chat_requests()) == 2
    assert client.ledger.calls[0].attempts == 2


async def test_timeout_is_retried(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A request that outlives the client's timeout is abandoned and retried."""
    fake_server.faults.add(Fault.hang(5.0))
    client = make_client(timeout=0.3)

    reply = await client.complete(MESSAGES)

    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 2
    assert len(sleep.delays) == 1


def rate_limited(headers: dict[str, str], http: Any = httpx) -> openai.RateLimitError:
    """A real 429 error as the SDK raises it, its response built with `http` (httpx or httpx2:
    openai's own HTTP client is httpx2, a client passed to it may be httpx)."""
    request = http.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = http.Response(429, headers=headers, request=request)
    return openai.RateLimitError("rate limited", response=response, body=None)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"retry-after-ms": "750", "Retry-After": "9"}, 0.75),
        ({"retry-after-ms": "soon", "Retry-After": "2"}, 2.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_header_parsing(headers: dict[str, str], expected: float | None) -> None:
    """Seconds and milliseconds headers are read; a value that is neither is ignored."""
    assert retry_after(rate_limited(headers)) == expected


def test_retry_after_read_from_httpx2_responses() -> None:
    """Retry-After is honoured on responses of openai's own HTTP stack (httpx2) too."""
    httpx2 = pytest.importorskip("httpx2")

    assert retry_after(rate_limited({"Retry-After": "3"}, httpx2)) == 3.0
    assert retry_after(rate_limited({"retry-after-ms": "250"}, httpx2)) == 0.25


async def test_retry_after_honoured_with_sdk_default_http_client(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A chat model on the openai SDK's default HTTP client still gets Retry-After honoured."""
    http = openai.DefaultAsyncHttpxClient()
    model = ChatOpenAI(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-test"),
        base_url=fake_server.base_url,
        max_retries=0,
        http_async_client=http,
    )
    fake_server.faults.add(Fault.status(429, retry_after=2))
    client = make_client(chat_model=model)
    try:
        reply = await client.complete(MESSAGES)
    finally:
        await http.aclose()

    assert reply.text.startswith("Fake reply")
    [delay] = sleep.delays
    assert 2.0 <= delay <= 2.25


def test_retry_after_http_date() -> None:
    """An HTTP-date Retry-After becomes the seconds until that time."""
    start = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)  # a fixed clock: no wall-time window
    when = email.utils.format_datetime(start + timedelta(seconds=30), usegmt=True)

    seconds = retry_after(rate_limited({"Retry-After": when}), now=start.timestamp)

    assert seconds == 30.0


def test_unparseable_retry_after_falls_back_to_backoff() -> None:
    """A garbage Retry-After does not break the policy: it backs off as if none was sent."""
    policy = RetryPolicy(base=0.5, rng=random.Random(0))

    delays = [policy.delay(n, rate_limited({"Retry-After": "soon"})) for n in (1, 2, 3)]

    assert all(0 <= d <= 0.5 * 2 ** (n - 1) for n, d in zip((1, 2, 3), delays, strict=True))
