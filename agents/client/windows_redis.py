"""A rate-limit budget kept in Redis, so every process using the same Redis shares it.

Each spend is one atomic Lua script run on the Redis clock: it paces requests (GCRA, one key
holding the time the next request may go), keeps the tokens of the last 60 seconds (a sorted
set of spend ids by time, a hash of their tokens and a running total) and registers this
process in a set of live processes. If Redis cannot be reached, this process falls back to a
local budget of `1 / N` of the whole, N being the processes seen lately, says so once, and
tries Redis again every few seconds.

Redis is reached with `redis.asyncio`, so waiting on it never blocks the event loop; its
connections belong to one event loop, so each loop using the budget gets its own client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio

from copydesk.agents.client.windows import CATCH_UP, TOKEN_WINDOW, LocalWindows

__all__ = ["RedisWindows", "redis_location"]

log = logging.getLogger("copydesk.limiter")

_SPEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local tpm, foreign, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])
redis.call('ZADD', KEYS[5], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 15)
redis.call('EXPIRE', KEYS[5], 60)
local procs = redis.call('ZCARD', KEYS[5])
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - window)
for _, id in ipairs(old) do
  total = total - tonumber(redis.call('HGET', KEYS[3], id) or '0')
  redis.call('HDEL', KEYS[3], id)
end
if #old > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if total < 0 then total = 0 end
  redis.call('SET', KEYS[4], total)
end
local wait = 0
local slot = now
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if interval > 0 then
  slot = now - tonumber(ARGV[8])
  if tat > slot then slot = tat end
end
if slot - now > tonumber(ARGV[7]) then wait = slot - now - tonumber(ARGV[7]) end
if tpm >= 0 and total + tokens > tpm - foreign then
  local allowed = tpm - foreign
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local found = window
  if tokens >= allowed then
    if #entries > 0 then found = entries[#entries] + window - now else found = 0 end
  else
    local used = total
    for i = 1, #entries, 2 do
      used = used - tonumber(redis.call('HGET', KEYS[3], entries[i]) or '0')
      if used + tokens <= allowed then found = entries[i + 1] + window - now break end
    end
  end
  if found > wait then wait = found end
end
if wait > 0 then return {tostring(wait), '', procs} end
if interval > 0 then
  redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'EX', 120)
end
local id = redis.call('INCR', KEYS[6])
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[3], id, tokens)
redis.call('INCRBY', KEYS[4], tokens)
for i = 2, 4 do redis.call('EXPIRE', KEYS[i], 120) end
redis.call('EXPIRE', KEYS[6], 86400)
local delay = slot - now
if delay < 0 then delay = 0 end
return {string.format('%.6f', delay), tostring(id), procs}
"""

_HOLD = """
local t = redis.call('TIME')
local hold = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > tat then redis.call('SET', KEYS[1], string.format('%.6f', hold), 'EX', 120) end
return 0
"""

_SETTLE = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or 'nil')
if current == nil then return 0 end
local delta = tonumber(ARGV[2])
if current + delta < 0 then delta = -current end
redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
redis.call('INCRBY', KEYS[2], delta)
return delta
"""

_SENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local count, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < count then
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. redis.call('INCR', KEYS[2]))
  redis.call('EXPIRE', KEYS[1], 60)
  redis.call('EXPIRE', KEYS[2], 86400)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], -count, -count, 'WITHSCORES')
return string.format('%.6f', tonumber(oldest[2]) + window - now)
"""

# Any Redis failure (gone, timing out, read-only, out of memory) must not fail model calls.
_REDIS_DOWN = (redis.RedisError, OSError)


def redis_location(url: str) -> str:
    """`host:port/db` of a Redis URL, without any password in it."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisWindows:
    """A budget shared through Redis, with a local fallback share when Redis is away.

    Args:
        url: Redis URL (`redis://host:port/db`).
        prefix: Key prefix for this budget.
        timeout: Seconds a Redis command may take before Redis counts as away. Generous: the
            reply is read on this process's event loop, which a busy process reaches late,
            and a healthy Redis taken for gone costs more (every process on its own share
            while the others still pace through Redis) than a slow detection of a real outage.
        retry_every: Seconds between attempts to reach Redis again while it is away.
    """

    def __init__(
        self, url: str, prefix: str, *, timeout: float = 3.0, retry_every: float = 2.0
    ) -> None:
        self.location = redis_location(url)
        self._url = url
        self._timeout = timeout
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Client] = (
            weakref.WeakKeyDictionary()
        )
        names = ("next", "spends", "tokens", "total", "procs", "ids", "sent")
        self._keys = [f"{prefix}:{name}" for name in names]
        self._me = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._processes = 1
        self._local = LocalWindows()
        self._retry_at: float | None = None  # set while Redis is away
        self._retry_every = retry_every
        self._next_slot = 0.0

    @property
    def shared(self) -> bool:
        """True while the budget lives in Redis (False: on the local fallback share)."""
        return self._retry_at is None

    @property
    def processes(self) -> int:
        """Processes that used this budget in the last 15 seconds (as last seen)."""
        return self._processes

    def _client(self) -> _Client:
        """The Redis client of the running event loop, made on first use."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = _Client(self._url, self._timeout)
        return client

    async def spend(
        self, tokens: int, interval: float, tpm: int | None, foreign: int, horizon: float = 0.0
    ) -> tuple[float, str]:
        """See `copydesk.agents.client.windows.Windows.spend`."""
        if self._retry_at is None or time.monotonic() >= self._retry_at:
            try:
                wait, ident, procs = await self._client().spend(
                    keys=self._keys,
                    args=[
                        tokens,
                        interval,
                        -1 if tpm is None else tpm,
                        foreign,
                        self._me,
                        TOKEN_WINDOW,
                        horizon,
                        CATCH_UP,
                    ],
                )
            except _REDIS_DOWN as error:
                self._went_away(error)
            else:
                self._came_back()
                self._processes = max(1, int(procs))
                ident = ident.decode() if isinstance(ident, bytes) else str(ident)
                if ident:  # the next slot, in case this process must go on alone
                    self._next_slot = time.monotonic() + float(wait) + interval
                return float(wait), f"r{ident}" if ident else ""
        share = self._processes
        wait, ident = self._local.spend_now(
            tokens,
            interval * share,
            None if tpm is None else tpm // share,
            foreign // share,
            horizon,
        )
        return wait, f"l{ident}" if ident else ""

    async def settle(self, spend_id: str, delta: int) -> None:
        """See `copydesk.agents.client.windows.Windows.settle`."""
        if spend_id.startswith("l"):
            self._local.settle_now(spend_id[1:], delta)
        elif spend_id.startswith("r") and self._retry_at is None:
            try:
                await self._client().settle(
                    keys=[self._keys[2], self._keys[3]], args=[spend_id[1:], delta]
                )
            except _REDIS_DOWN as error:
                self._went_away(error)

    async def hold_until(self, moment: float) -> None:
        """Hold every process sharing the budget until `moment` (the server said "wait")."""
        self._local.hold_now(moment)
        if self._retry_at is None:
            try:
                await self._client().hold(
                    keys=[self._keys[0]], args=[max(0.0, moment - time.monotonic())]
                )
            except _REDIS_DOWN as error:
                self._went_away(error)

    async def sent(self, count: int, window: float) -> float:
        """See `copydesk.agents.client.windows.Windows.sent` (the sends of every process)."""
        if self._retry_at is None:
            try:
                wait = await self._client().sent(
                    keys=[self._keys[6], self._keys[5]], args=[count, window, self._me]
                )
            except _REDIS_DOWN as error:
                self._went_away(error)
            else:
                return float(wait)
        return self._local.sent_now(max(1, count // self._processes), window)

    async def used_tokens(self) -> int:
        """See `copydesk.agents.client.windows.Windows.used_tokens`."""
        if self._retry_at is None:
            try:
                return int(await self._client().redis.get(self._keys[3]) or 0)
            except _REDIS_DOWN as error:
                self._went_away(error)
        return self._local.used_now()

    def _went_away(self, error: BaseException) -> None:
        if self._retry_at is None:
            # Slots Redis gave out are still to be used: the local share starts after them.
            self._local.hold_now(self._next_slot)
            log.warning(
                "Redis at %s is unreachable (%s); this process now uses a local 1/%d share of "
                "the rate limit until Redis is back",
                self.location,
                type(error).__name__,
                self._processes,
            )
        self._retry_at = time.monotonic() + self._retry_every

    def _came_back(self) -> None:
        if self._retry_at is not None:
            log.warning("Redis at %s is back; the rate limit is shared again", self.location)
            self._retry_at = None

    async def aclose(self) -> None:
        """Close the running event loop's connections to Redis."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.redis.aclose()


class _Client:
    """One event loop's connection pool to Redis and the budget's scripts on it."""

    def __init__(self, url: str, timeout: float) -> None:
        self.redis: Any = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.spend = self.redis.register_script(_SPEND)
        self.settle = self.redis.register_script(_SETTLE)
        self.hold = self.redis.register_script(_HOLD)
        self.sent = self.redis.register_script(_SENT)
