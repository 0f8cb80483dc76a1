"""Embedders: the client's (limiter, retries, breaker) through the configured endpoint, and
the offline lexical one."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from copydesk.agents.client import OpenAIClient, RetryPolicy
from copydesk.agents.client.embeddings import ClientEmbedder, embedder_for
from copydesk.agents.client.limiter import LimiterRegistry
from copydesk.agents.errors import ModelUnavailableError
from copydesk.memory.embeddings import LexicalEmbedder
from tests.fakes import FakeOpenAIServer
from tests.fakes._payloads import embedding_vector
from tests.fakes.openai_server import Fault


def test_lexical_reflects_shared_wording_and_is_unit_length() -> None:
    """Overlapping wording scores higher than unrelated text; every vector has norm 1."""
    embedder = LexicalEmbedder()
    a, b, c = embedder.embed(
        ["the harbour master rows a green dory", "a green dory rowed by the harbour master",
         "quarterly tax filing deadlines"]
    )  # fmt: skip
    assert float(a @ b) > 0.5 > abs(float(a @ c))
    assert np.allclose(np.linalg.norm(embedder.embed(["x y", "z"]), axis=1), 1.0)
    assert not embedder.embed([""]).any()  # nothing to say, zero vector


def test_lexical_is_deterministic_across_processes() -> None:
    """Same text, same vector in a fresh interpreter (no salted hash())."""
    code = (
        "from copydesk.memory.embeddings import LexicalEmbedder\n"
        "print(LexicalEmbedder(32).embed(['kites over the dunes'])[0].round(6).tolist())\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )  # fmt: skip
    here = LexicalEmbedder(32).embed(["kites over the dunes"])[0].round(6).tolist()
    assert done.stdout.strip() == str(here)


def test_client_embeddings_through_the_base_url() -> None:
    """Vectors come from POST /v1/embeddings of the configured server, in input order, through
    the client's own connection pool for the running loop."""
    with FakeOpenAIServer() as server:
        client = OpenAIClient(base_url=server.base_url)
        embedder = ClientEmbedder(client, dimensions=64)

        async def twice() -> tuple[Any, Any, bool]:
            first = await embedder.aembed(["one", "two"])
            second = await embedder.aembed(["three"])
            shared = embedder._wire()._shards == [client.http_client()]
            await client.aclose()
            return first, second, shared

        vectors, _, shared = asyncio.run(twice())
        requests = server.requests
    assert [r.path for r in requests] == ["/v1/embeddings"] * 2
    assert requests[0].body is not None and requests[0].body["model"] == "text-embedding-3-small"
    assert requests[0].body["dimensions"] == 64 and requests[0].body["input"] == ["one", "two"]
    assert np.allclose(vectors[1], embedding_vector("two", 64), atol=1e-6)
    assert embedder.name == "openai:text-embedding-3-small-64" and embedder.remote and shared


def test_embeddings_wait_in_their_own_limiter_and_honour_retry_after() -> None:
    """A 429 is retried; the embedding model's limiter (not the chat model's) learns the
    server's request limit from the response headers."""
    with FakeOpenAIServer() as server:
        server.enforce(rps=50)
        server.faults.add(Fault.status(429, retry_after=0.3))
        client = OpenAIClient(base_url=server.base_url)
        embedder = ClientEmbedder(client, dimensions=8)

        async def run() -> Any:
            vectors = await embedder.aembed(["kite"])
            await client.aclose()
            return vectors

        vectors = asyncio.run(run())
        requests = server.requests
    assert len(vectors) == 1 and len(requests) == 2 and embedder.requests == 2
    embedding = client.limiters.get(client.endpoint, "text-embedding-3-small", client.key_id)
    chat = client.limiters.get(client.endpoint, client.model, client.key_id)
    assert embedding is not chat and embedding.rpm == 50 and chat.rpm is None


def test_a_failing_endpoint_opens_the_breaker_and_fails_fast() -> None:
    """Repeated 500s open the embedding model's circuit breaker: the call ends with a
    ModelUnavailableError, and the next one fails without a request."""
    with FakeOpenAIServer() as server:
        server.always = Fault.status(500)
        steps = itertools.count()  # each reading a second later: the retries are not a burst
        client = OpenAIClient(
            base_url=server.base_url, limiters=LimiterRegistry(clock=lambda: float(next(steps)))
        )
        embedder = ClientEmbedder(client, dimensions=8, retry=RetryPolicy(base=0.01, cap=0.02))

        async def run() -> None:
            try:
                with pytest.raises(ModelUnavailableError):
                    await embedder.aembed(["kite"])
                sent = len(server.requests)
                with pytest.raises(ModelUnavailableError, match="circuit breaker open since"):
                    await embedder.aembed(["kite"])
                assert len(server.requests) == sent
            finally:
                await client.aclose()

        asyncio.run(run())
    assert client.limiters.breaker(client.endpoint, "text-embedding-3-small").is_open
    assert not client.limiters.breaker(client.endpoint, client.model).is_open


def test_wrong_dimensions_from_the_server_are_an_error() -> None:
    """A model that answers with another size is refused, not mixed in."""
    with FakeOpenAIServer() as server:
        embedder = ClientEmbedder(
            OpenAIClient(base_url=server.base_url), model="other", dimensions=64
        )
        with pytest.raises(ValueError, match="1536-dimensional vectors, expected 64"):
            embedder.embed(["one"])


def test_sync_embed_works_with_and_without_a_running_loop() -> None:
    """The CLI's blocking path runs on a loop of its own, also when called from a loop."""
    with FakeOpenAIServer() as server:
        embedder = ClientEmbedder(OpenAIClient(base_url=server.base_url), dimensions=16)
        plain = embedder.embed(["salt"])

        async def inside() -> Any:
            return embedder.embed(["salt"])

        nested = asyncio.run(inside())
    assert np.allclose(plain, nested)


def test_embedder_for_picks_by_settings(make_settings: Any) -> None:
    """Offline (no key, no URL, or forced) gives the lexical embedder; else the client's."""
    assert isinstance(embedder_for(make_settings()), LexicalEmbedder)
    assert isinstance(
        embedder_for(make_settings(offline=True, openai_base_url="http://127.0.0.1:1/v1")),
        LexicalEmbedder,
    )
    chosen = embedder_for(make_settings(openai_base_url="http://127.0.0.1:1/v1"))
    assert isinstance(chosen, ClientEmbedder) and chosen.dims == 1536
