"""The client's connection pool at many calls at once: split into pools of at most
`SHARD` connections (httpcore's per-request work grows with the size of a pool), every call
served at once, each request going through one pool."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import HumanMessage

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.pool import SHARD
from tests.fakes import FakeOpenAIServer, Reply


def _connections(http: Any) -> int:
    return len(http._transport._pool.connections)


async def test_many_calls_at_once_spread_over_pools_of_bounded_size() -> None:
    calls = 3 * SHARD
    with FakeOpenAIServer() as server:
        server.responder = lambda body: Reply(content="A whole reply.")
        server.latency = 0.3  # every call in flight at once
        client = OpenAIClient(base_url=server.base_url, max_connections=calls)
        async with client:
            replies = await asyncio.gather(
                *(client.complete([HumanMessage(f"topic {n}")]) for n in range(calls))
            )
            shards = client._pool._loop_state()[1]
            sizes = [_connections(http) for http in shards]
            first = client.http_client()
    assert [r.message.text for r in replies] == ["A whole reply."] * calls
    assert len(shards) == 3 and first is shards[0]
    assert min(sizes) > 0 and max(sizes) <= 1.25 * SHARD  # taken in turn, each bounded
    assert len({id(http._transport._pool._ssl_context) for http in shards}) == 1  # one TLS load


async def test_a_small_pool_is_one_pool() -> None:
    with FakeOpenAIServer() as server:
        server.responder = lambda body: Reply(content="ok")
        async with OpenAIClient(base_url=server.base_url, max_connections=SHARD) as client:
            await client.complete([HumanMessage("one")])
            assert len(client._pool._loop_state()[1]) == 1
