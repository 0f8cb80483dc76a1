"""Embedding calls made close together share one request; each caller gets its own rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from copydesk.agents.client import OpenAIClient, RetryPolicy
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.agents.client.gathering import Gathering
from copydesk.agents.errors import ModelRequestError
from copydesk.memory.embeddings import Vectors
from tests.fakes import FakeOpenAIServer
from tests.fakes._payloads import embedding_vector
from tests.fakes.openai_server import Fault


async def test_concurrent_calls_share_one_request(fake_server: FakeOpenAIServer) -> None:
    """Three recalls at once: one request, each text sent once, each caller its own rows."""
    client = OpenAIClient(base_url=fake_server.base_url)
    embedder = ClientEmbedder(client, dimensions=16)
    try:
        first, second, third = await asyncio.gather(
            embedder.aembed(["kite", "dune"]),
            embedder.aembed(["dune"]),
            embedder.aembed(["harbour", "kite"]),
        )
    finally:
        await client.aclose()
    requests = fake_server.requests
    assert len(requests) == 1 and requests[0].body is not None
    assert requests[0].body["input"] == ["kite", "dune", "harbour"]
    assert first.shape == (2, 16) and second.shape == (1, 16) and third.shape == (2, 16)
    for text, row in [("kite", first[0]), ("dune", first[1]), ("dune", second[0]),
                      ("harbour", third[0]), ("kite", third[1])]:  # fmt: skip
        assert np.allclose(row, embedding_vector(text, 16), atol=1e-6)


async def test_no_window_sends_each_call_alone(fake_server: FakeOpenAIServer) -> None:
    """`gather=0`: one request per call, as before gathering."""
    client = OpenAIClient(base_url=fake_server.base_url)
    embedder = ClientEmbedder(client, dimensions=8, gather=0)
    try:
        await asyncio.gather(*(embedder.aembed([f"kite {n}"]) for n in range(3)))
    finally:
        await client.aclose()
    inputs = sorted(r.body["input"][0] for r in fake_server.requests if r.body is not None)
    assert inputs == ["kite 0", "kite 1", "kite 2"]


async def test_a_failed_request_fails_every_caller(fake_server: FakeOpenAIServer) -> None:
    """A request the server refuses for good raises in each caller that shared it."""
    client = OpenAIClient(base_url=fake_server.base_url)
    embedder = ClientEmbedder(client, dimensions=8, retry=RetryPolicy(max_retries=0))
    fake_server.faults.add(Fault.status(400))
    try:
        results = await asyncio.gather(
            embedder.aembed(["kite"]), embedder.aembed(["dune"]), return_exceptions=True
        )
    finally:
        await client.aclose()
    assert len(fake_server.requests) == 1
    assert all(isinstance(r, ModelRequestError) for r in results), results


async def test_a_cancelled_caller_leaves_the_others_their_rows() -> None:
    """One caller gives up while the batch is open: the others still get their vectors."""
    sent: list[list[str]] = []

    async def send(texts: list[str]) -> Vectors:
        sent.append(texts)
        return np.arange(len(texts), dtype=np.float32).reshape(-1, 1)

    gathering = Gathering(send, window=0.01)
    leaving = asyncio.ensure_future(gathering.embed(["a"]))
    staying = asyncio.ensure_future(gathering.embed(["b", "c"]))
    await asyncio.sleep(0)
    leaving.cancel()
    assert (await staying).ravel().tolist() == [1.0, 2.0]
    assert sent == [["a", "b", "c"]] and leaving.cancelled()


async def test_a_full_batch_closes_and_the_next_text_opens_another() -> None:
    """At `limit` texts a request is full: later texts go in the next one."""
    sent: list[list[str]] = []

    async def send(texts: list[str]) -> Vectors:
        sent.append(texts)
        return np.zeros((len(texts), 1), np.float32)

    gathering = Gathering(send, window=0.01, limit=2)
    await asyncio.gather(*(gathering.embed([text]) for text in "abc"))
    assert sent == [["a", "b"], ["c"]]


async def test_every_caller_gone_sends_nothing() -> None:
    """A batch whose callers were all cancelled is not sent."""
    sent: list[list[str]] = []

    async def send(texts: list[str]) -> Vectors:
        sent.append(texts)
        return np.zeros((len(texts), 1), np.float32)

    gathering = Gathering(send, window=0.01)
    waiting = asyncio.ensure_future(gathering.embed(["a"]))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.05)
    assert sent == []


async def test_a_request_cancelled_in_flight_cancels_its_callers() -> None:
    """The loop shutting down cancels the request: its callers end cancelled, not stuck."""
    started = asyncio.Event()

    async def send(texts: list[str]) -> Vectors:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    gathering = Gathering(send, window=0.001)
    waiting = asyncio.ensure_future(gathering.embed(["a"]))
    await started.wait()
    for task in list(gathering._running):
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
