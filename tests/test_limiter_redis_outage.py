"""The shared budget's every call to Redis keeps working when Redis stops in the middle: settling
a spend, holding every process after a 429 and reading the tokens used each fall back to this
process's own share, said once (a TCP proxy in front of Redis is cut; the server keeps running)."""

from __future__ import annotations

import logging
import time

import pytest

from copydesk.agents.client.windows_redis import RedisWindows
from tests.fakes.tcp_proxy import TcpProxy

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests.test_limiter_redis import prefix as prefix
from tests.test_limiter_redis import proxy as proxy
from tests.test_limiter_redis import redis_url as redis_url
from tests.test_limiter_redis import via


async def test_settle_hold_and_used_go_local_when_redis_stops(
    redis_url: str, prefix: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    settling, holding, reading = (RedisWindows(via(proxy, redis_url), prefix) for _ in range(3))
    spends = [await w.spend(100, 0.0, 100_000, 0) for w in (settling, holding, reading)]
    assert all(ident.startswith("r") for _, ident in spends)  # given out by Redis
    assert await reading.used_tokens() == 300

    proxy.cut()
    with caplog.at_level(logging.WARNING, logger="copydesk.limiter"):
        await settling.settle(spends[0][1], -50)
        await holding.hold_until(time.monotonic() + 60)
        used = await reading.used_tokens()

    assert used == 0  # this process's own share: nothing spent through it
    assert not any(w.shared for w in (settling, holding, reading))
    notes = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(notes) == 3  # once by each
    assert (await holding.spend(0, 0.01, None, 0))[0] > 30  # the hold is kept locally
    for windows in (settling, holding, reading):
        await windows.aclose()
