"""The circuit breaker reads a failure rate over a sliding window: a burst of simultaneous
failures does not open it, a sustained outage does, and half-open lets a bounded number of
probes decide."""

from __future__ import annotations

import asyncio

import pytest

from copydesk.agents.client import OpenAIClient, RetryPolicy
from copydesk.agents.client.breaker import CircuitBreaker
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.agents.client.limiter import LimiterRegistry
from copydesk.agents.errors import ModelUnavailableError
from tests._client import MESSAGES
from tests.fakes import FakeOpenAIServer, Fault


class Clock:
    """Monotonic seconds the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **options: float) -> CircuitBreaker:
    return CircuitBreaker("m at http://x", clock=clock, **options)  # type: ignore[arg-type]


def test_failures_at_the_same_instant_are_one_burst() -> None:
    clock = Clock()
    guard = breaker(clock)
    assert not any(guard.failure() for _ in range(20))  # twenty at once: one outcome
    clock.now += 1
    guard.success()
    assert guard.state == "closed" and guard.enter()


def test_a_sustained_outage_opens_it_and_says_since_and_until() -> None:
    clock = Clock()
    guard = breaker(clock, cooldown=30)
    opened = []
    for _ in range(5):
        opened.append(guard.failure())
        clock.now += 2
    assert opened == [False, False, False, False, True]
    assert guard.state == "open" and guard.is_open and not guard.enter()
    message = guard.describe()
    assert message.startswith("m at http://x: circuit breaker open since ")
    assert " until " in message and "attempt" not in message and "invalid" not in message


def test_a_rate_under_the_threshold_keeps_it_closed() -> None:
    clock = Clock()
    guard = breaker(clock)
    for n in range(30):  # one call in three fails, for a minute
        guard.failure() if n % 3 == 0 else guard.success()
        clock.now += 2
    assert guard.state == "closed"


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    guard = breaker(clock, window=10)
    for _ in range(4):
        guard.failure()
        clock.now += 2
    clock.now += 20  # those four slid out of the window
    assert not guard.failure() and guard.state == "closed"


def _opened(clock: Clock) -> CircuitBreaker:
    guard = breaker(clock, cooldown=30, probes=2)
    for _ in range(5):
        guard.failure()
        clock.now += 1
    assert guard.state == "open"
    clock.now += 30
    return guard


def test_half_open_lets_a_bounded_number_of_probes_through_and_they_close_it() -> None:
    clock = Clock()
    guard = _opened(clock)
    assert guard.state == "half_open" and not guard.is_open
    assert guard.enter() and guard.enter()
    assert not guard.enter() and guard.is_open  # a third call waits for the probes
    guard.success()
    assert guard.state == "half_open"
    guard.success()
    assert guard.state == "closed" and guard.enter()
    assert not guard.failure()  # a fresh window: one failure is not a rate


def test_a_failed_probe_reopens_it() -> None:
    clock = Clock()
    guard = _opened(clock)
    assert guard.enter()
    assert guard.failure() and guard.state == "open" and not guard.enter()
    guard.success()  # a call that began before it reopened does not close it
    assert guard.state == "open"


async def test_a_burst_of_embedding_failures_does_not_open_the_breaker(
    fake_server: FakeOpenAIServer,
) -> None:
    """Eight recalls' embedding calls fail at the same instant (a listen backlog that
    overflowed): each retries and succeeds, and the breaker stays closed."""
    clock = Clock()
    client = OpenAIClient(base_url=fake_server.base_url, limiters=LimiterRegistry(clock=clock))
    # gather=0: eight requests at the same instant (gathered, they would be one request)
    embedder = ClientEmbedder(
        client, dimensions=8, retry=RetryPolicy(base=0.001, cap=0.002), gather=0
    )
    fake_server.faults.add(*[Fault.status(503)] * 8)
    try:
        vectors = await asyncio.gather(*(embedder.aembed([f"kite {n}"]) for n in range(8)))
        reply = await client.complete(MESSAGES)
    finally:
        await client.aclose()
    assert [v.shape for v in vectors] == [(1, 8)] * 8 and reply.text
    assert len(fake_server.requests) == 8 + 8 + 1 and not fake_server.faults
    assert client.limiters.breaker(client.endpoint, embedder.model).state == "closed"


async def test_embeddings_and_chat_keep_separate_breakers(fake_server: FakeOpenAIServer) -> None:
    """An embeddings outage opens the embeddings breaker only: chat calls still go."""
    clock = Clock()
    client = OpenAIClient(base_url=fake_server.base_url, limiters=LimiterRegistry(clock=clock))
    embedder = ClientEmbedder(client, dimensions=8, retry=RetryPolicy(max_retries=0))
    fake_server.faults.add(*[Fault.status(500)] * 5)
    try:
        for _ in range(5):
            with pytest.raises(ModelUnavailableError, match="kept failing"):
                await embedder.aembed(["kite"])
            clock.now += 3
        with pytest.raises(ModelUnavailableError, match=r"circuit breaker open since .* until"):
            await embedder.aembed(["kite"])
        reply = await client.complete(MESSAGES)
    finally:
        await client.aclose()
    assert reply.text and len(fake_server.requests) == 6
    assert client.limiters.breaker(client.endpoint, client.model).state == "closed"
