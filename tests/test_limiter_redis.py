"""The limiter's budget in a real Redis: shared by "processes", and what happens when Redis
stops in the middle (a TCP proxy in front of Redis is cut; the real server keeps running)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.limiter import LimiterRegistry
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.client.windows_redis import RedisWindows
from tests._client import MESSAGES
from tests.fakes import FakeOpenAIServer
from tests.fakes.tcp_proxy import TcpProxy

# Read at import: the autouse fixture clears COPYDESK_* variables before each test.
REDIS_URL = os.environ.get("COPYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRED = os.environ.get("COPYDESK_REQUIRE_SERVICES") == "1"


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        if REQUIRED:
            pytest.fail(f"Redis at {REDIS_URL} is required but unreachable: {error}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted after the test."""
    name = f"copydesk-test:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(redis_url)
    with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 6379)) as running:
        yield running


def via(proxy: TcpProxy, redis_url: str) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(redis_url).path or '/0'}"


async def test_two_processes_share_pacing_and_tokens(redis_url: str, prefix: str) -> None:
    a = RedisWindows(redis_url, prefix)
    b = RedisWindows(redis_url, prefix)
    assert (await a.spend(0, 0.5, None, 0))[0] == 0
    wait, ident = await b.spend(0, 0.5, None, 0)
    assert 0.3 < wait <= 0.5 and ident == ""  # a's request holds b back
    assert a.processes == 1 and b.processes == 2

    c = RedisWindows(redis_url, prefix + ":tokens")
    d = RedisWindows(redis_url, prefix + ":tokens")
    _, spent = await c.spend(60, 0, 100, 0)
    assert (await d.spend(60, 0, 100, 0))[0] > 50  # must wait for c's tokens to leave the minute
    await c.settle(spent, -50)  # the server reported 10 tokens, not 60
    assert await d.used_tokens() == 10
    assert (await d.spend(60, 0, 100, 0))[0] == 0
    assert await c.used_tokens() == 70
    for windows in (a, b, c, d):
        await windows.aclose()


async def test_the_sends_of_every_process_count_in_one_window(redis_url: str, prefix: str) -> None:
    """Three requests a window allowed: two processes sending, the fourth send waits for the
    oldest to leave the window, whichever process sent it."""
    a = RedisWindows(redis_url, prefix)
    b = RedisWindows(redis_url, prefix)
    assert await a.sent(3, 60.0) == 0
    assert await b.sent(3, 60.0) == 0
    assert await a.sent(3, 60.0) == 0
    assert 0 < await b.sent(3, 60.0) <= 60.0  # waits for a's first send to leave the window
    assert 0 < await a.sent(3, 60.0) <= 60.0
    for windows in (a, b):
        await windows.aclose()


async def test_redis_stopping_falls_back_to_a_local_share_and_says_so_once(
    redis_url: str, prefix: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    windows = RedisWindows(via(proxy, redis_url), prefix, retry_every=0.05)
    other = RedisWindows(redis_url, prefix)  # a second process, seen through Redis
    assert (await other.spend(0, 0.01, None, 0))[0] == 0
    assert (await windows.spend(0, 0, None, 0))[0] == 0
    assert windows.shared and windows.processes == 2

    proxy.cut()
    with caplog.at_level(logging.WARNING, logger="copydesk.limiter"):
        assert (await windows.spend(0, 0.1, None, 0))[0] == 0
        assert not windows.shared
        wait, _ = await windows.spend(0, 0.1, None, 0)
        assert wait > 0.15  # half the budget each: twice the interval
        for _ in range(3):
            windows._retry_at = 0.0  # due for another try: it fails again, silently
            await windows.spend(0, 0.1, None, 0)
        proxy.restore()
        windows._retry_at = 0.0
        await windows.spend(0, 0.1, None, 0)
    notes = [r.getMessage() for r in caplog.records]
    assert len([n for n in notes if "unreachable" in n]) == 1
    assert "local 1/2 share" in notes[0]
    assert len([n for n in notes if "is back;" in n]) == 1
    assert windows.shared
    await windows.aclose()
    await other.aclose()


async def test_calls_keep_going_when_redis_stops_mid_run(
    redis_url: str, prefix: str, proxy: TcpProxy, fake_server: FakeOpenAIServer
) -> None:
    """40 requests/s enforced; Redis goes away half way: no call fails, 429s stay rare."""
    fake_server.enforce(rps=40)
    registry = LimiterRegistry(rpm=40 * 60, redis_url=via(proxy, redis_url), prefix=prefix)
    client = OpenAIClient(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-test"),
        base_url=fake_server.base_url,
        retry=RetryPolicy(max_retries=6, rng=random.Random(0)),
        limiters=registry,
    )
    async with client:
        calls = asyncio.gather(*(client.complete(MESSAGES) for _ in range(60)))
        await asyncio.sleep(0.6)
        proxy.cut()
        replies = await calls
    assert len(replies) == 60
    assert len(fake_server.chat_requests()) - fake_server.rejected_429 == 60
    assert fake_server.rejected_429 <= 2
    limiter = registry.get(client.endpoint, "gpt-4o-mini", client._key_id)
    assert isinstance(limiter.windows, RedisWindows) and not limiter.windows.shared


async def test_a_429_in_one_process_holds_every_process(redis_url: str, prefix: str) -> None:
    a = RedisWindows(redis_url, prefix)
    b = RedisWindows(redis_url, prefix)
    assert (await b.spend(0, 0.001, None, 0))[0] == 0
    await a.hold_until(time.monotonic() + 0.5)  # a's call got "429, retry after 0.5 s"
    wait, ident = await b.spend(0, 0.001, None, 0)
    assert wait > 0.3 and ident == ""
    await a.aclose()
    await b.aclose()


async def test_waiting_on_redis_does_not_block_the_event_loop(prefix: str) -> None:
    """A Redis that accepts but never answers: other coroutines run while a spend waits on
    it, and the spend then falls back to the local share."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing ever answers
        windows = RedisWindows(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", prefix)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        wait, ident = await windows.spend(0, 0.1, None, 0)
        ticker.cancel()
        await windows.aclose()
    assert ticks > 0  # the loop kept running while Redis kept silent
    assert wait == 0 and ident.startswith("l") and not windows.shared
