"""The HTTP connection pool of each event loop, and the limiter hooks on its traffic.

`ChatOpenAI` binds its HTTP connection pool to the event loop that first used it, so a second
`asyncio.run` in the same process fails with "Event loop is closed"; `LoopPool` therefore
keeps one httpx pool, and one `ChatOpenAI` per model on it, per live event loop. Chat and
embeddings share it. Its hooks serve the limiter of the call in progress (set with
`observing`, per asyncio task): a request that follows the ones before it too closely waits,
and every response's `x-ratelimit-*` headers are learned from.

A large pool is several httpx pools of at most `SHARD` connections, taken in turn: httpcore
looks at every connection of a pool on each request (to hand it out, to drop expired ones,
with a system call per idle connection), so one pool of a thousand connections made each
call's CPU grow with the number of conversations at once; shards keep it constant.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from copydesk.agents.client.pacing import RateLimiter
from copydesk.agents.client.wire import ChatCompletionsWire, NoSyncCalls

__all__ = ["DEFAULT_ENDPOINT", "LoopPool"]

DEFAULT_ENDPOINT = "https://api.openai.com/v1"
"""Where calls go when no base URL is set."""
SHARD = 16
"""Connections per httpx pool; a larger `max_connections` is split into several."""


class LoopPool:
    """One connection pool, and the chat models on it, per live event loop.

    Args:
        base_url: OpenAI-compatible endpoint; OpenAI's when None.
        timeout: Seconds per HTTP request (and per gap between stream chunks).
        max_connections: Size of each connection pool.
        auth: Signs every request (the client's `KeyAuth`: the key of that moment).
    """

    def __init__(
        self, *, base_url: str | None, timeout: float, max_connections: int, auth: httpx.Auth
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.max_connections = max_connections
        self._auth = auth
        self._per_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[dict[str, ChatOpenAI], list[httpx.AsyncClient]]
        ] = weakref.WeakKeyDictionary()
        # The limiter of the call in progress, for the hooks (per asyncio task).
        self._limiter_now: ContextVar[RateLimiter | None] = ContextVar(
            f"copydesk-limiter-{id(self)}", default=None
        )

    def chat_model(self, name: str) -> ChatOpenAI:
        """The `ChatOpenAI` of model `name` for the running event loop (made on first use)."""
        models, shards = self._loop_state()
        chat = models.get(name)
        if chat is None:
            chat = models[name] = ChatOpenAI(
                model=name,
                # Unused: the pool's KeyAuth signs each request with the key of that moment.
                api_key=SecretStr("set-per-request"),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,  # retries are ours, so each one is counted and paced
                stream_chunk_timeout=self.timeout,  # a chunk gap is bounded like any read
                stream_usage=True,
                http_async_client=shards[0],
                # The request and its chunks as plain JSON (wire.py says why: the SDK's
                # per-request and per-chunk model walks were most of copydesk's CPU per call).
                async_client=ChatCompletionsWire(shards, self.base_url or DEFAULT_ENDPOINT),
                client=NoSyncCalls(),
            )
        return chat

    def http_client(self) -> httpx.AsyncClient:
        """The (first) connection pool of the running event loop (made on first use)."""
        return self._loop_state()[1][0]

    def _loop_state(self) -> tuple[dict[str, ChatOpenAI], list[httpx.AsyncClient]]:
        loop = asyncio.get_running_loop()
        known = self._per_loop.get(loop)
        if known is None:
            # A pool much larger than the concurrency made throughput worse: size it to fit
            # (a quarter more per shard, as calls taken in turn do not end in turn).
            count = math.ceil(self.max_connections / SHARD)
            size = self.max_connections if count == 1 else math.ceil(1.25 * SHARD)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            # One TLS context for every shard: each costs ~40 ms of CPU to load the CA file.
            tls = httpx.create_ssl_context()
            hooks: dict[str, list[Callable[..., Any]]] = {
                "request": [self._on_request],
                "response": [self._on_response],
            }
            shards = [
                httpx.AsyncClient(
                    timeout=self.timeout,
                    limits=limits,
                    verify=tls,
                    auth=self._auth,  # every request asks for the key of its moment
                    event_hooks=hooks,  # after the auth: the send time is the request's own
                )
                for _ in range(count)
            ]
            known = self._per_loop[loop] = ({}, shards)
        return known

    @contextmanager
    def observing(self, limiter: RateLimiter) -> Iterator[None]:
        """Let `limiter` pace the requests and learn from the `x-ratelimit-*` headers of the
        responses in this block."""
        current = self._limiter_now.set(limiter)
        try:
            yield
        finally:
            self._limiter_now.reset(current)

    async def _on_request(self, request: httpx.Request) -> None:
        """Hold the request while the limiter of the call in progress has sent a second's
        worth of requests in less than a second (the send came later than its slot)."""
        limiter = self._limiter_now.get()
        if limiter is not None:
            await limiter.sending()

    async def _on_response(self, response: httpx.Response) -> None:
        """Let the limiter of the call in progress adapt to the `x-ratelimit-*` headers."""
        limiter = self._limiter_now.get()
        if limiter is not None:
            await limiter.observe(response.headers)

    async def aclose(self) -> None:
        """Close the running event loop's pool (made again if used later)."""
        known = self._per_loop.pop(asyncio.get_running_loop(), None)
        for http in known[1] if known is not None else []:
            await http.aclose()
