"""A thread's budget book kept in Redis, so every process running the thread holds from one
remainder.

Per thread (keyed by a hash of where its checkpoints live and its id) Redis keeps what was
spent (tokens and USD) and the holds of calls in flight. A hold is a reservation with an
expiry, renewed while its call runs: a process that dies mid-call stops renewing, and its
hold lapses and gives its tokens back. Holding is one atomic Lua script on the Redis clock
(the remainder is the budget less what was spent and what live holds keep; the state's spend
counts where it says more), and settling another (the hold goes, what the call used is
added). A call that would get less than it would alone because other calls hold the rest
waits and asks again, as in one process.

If Redis cannot be reached, this process keeps the budget in its own book (`SpendBook`),
says so once, and tries Redis again every few seconds: a run never fails because of Redis.
Keys expire a day after their thread's last call.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import secrets
import time
import weakref
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from copydesk.agents.client.budget import Allowance, Hold, SpendBook
from copydesk.agents.client.windows_redis import redis_location
from copydesk.agents.errors import BudgetSpentError
from copydesk.agents.state import UsageTotals

__all__ = ["SharedSpendBook", "book_scope", "thread_key"]

log = logging.getLogger("copydesk.budget")

_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(gone) do redis.call('HDEL', KEYS[3], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local cost = tonumber(redis.call('HGET', KEYS[1], 'cost') or '0')
if tonumber(ARGV[1]) > tokens then tokens = tonumber(ARGV[1]) end
if tonumber(ARGV[2]) > cost then cost = tonumber(ARGV[2]) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%d', tokens),
  'cost', string.format('%.17g', cost))
local held_tokens, held_cost = 0, 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  local space = string.find(v, ' ')
  held_tokens = held_tokens + tonumber(string.sub(v, 1, space - 1))
  held_cost = held_cost + tonumber(string.sub(v, space + 1))
end
local budget_tokens, budget_cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local prompt, cap = tonumber(ARGV[5]), tonumber(ARGV[6])
local per_in, per_out = tonumber(ARGV[7]), tonumber(ARGV[8])
local function room(held)
  local r, ending = math.huge, 'token_budget'
  if budget_tokens > 0 then
    r = budget_tokens - tokens - prompt
    if held then r = r - held_tokens end
  end
  if budget_cost > 0 and per_out > 0 then
    local left = budget_cost - cost - prompt * per_in
    if held then left = left - held_cost end
    if left / per_out < r then r, ending = left / per_out, 'cost_budget' end
  end
  return r, ending
end
local alone, ending = room(false)
if alone < 1 then return {'refused', ending} end
local want = alone
if cap >= 0 and cap < want then want = cap end
if want ~= math.huge then want = math.floor(want) end
local shared
shared, ending = room(true)
if shared < want then return {'wait', ending} end
local out = want
if want == math.huge then out = 0 end
local hold_tokens, hold_cost = prompt + out, prompt * per_in + out * per_out
redis.call('HSET', KEYS[3], ARGV[9],
  string.format('%d', hold_tokens) .. ' ' .. string.format('%.17g', hold_cost))
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[10]), ARGV[9])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[11]) end
if want == math.huge then want = -1 end
return {'held', ending, string.format('%d', want), string.format('%d', hold_tokens),
  string.format('%.17g', hold_cost)}
"""

_SETTLE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[2])
  redis.call('HINCRBYFLOAT', KEYS[1], 'cost', ARGV[3])
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return 0
"""

_RENEW = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
"""

# Any Redis failure (gone, timing out, read-only, out of memory) must not fail model calls.
_REDIS_DOWN = (redis.RedisError, OSError)


def book_scope(checkpoint_url: str) -> str:
    """What, with a thread id, names one thread: where its checkpoints live. A `memory:`
    thread lives in one process only, so its scope is this process's own."""
    if checkpoint_url.startswith("memory:"):
        return f"memory:{os.getpid()}-{secrets.token_hex(8)}"
    if checkpoint_url.startswith("sqlite:"):
        path = checkpoint_url.removeprefix("sqlite:///").removeprefix("sqlite:")
        return f"sqlite:{Path(path).resolve()}"
    return checkpoint_url


def thread_key(prefix: str, scope: str, thread: str) -> str:
    """The Redis key stem of `thread`'s book (a hash: no URL or password appears in it)."""
    digest = hashlib.sha256(f"{scope}\0{thread}".encode()).hexdigest()[:32]
    return f"{prefix}:{digest}"


class SharedSpendBook:
    """Per-thread spending of every process using one Redis, held before and settled after
    each call; this process's own `SpendBook` while Redis is away.

    Args:
        url: Redis URL (`redis://host:port/db`), the rate limiter's.
        scope: Where the threads' checkpoints live (`book_scope`).
        prefix: Key prefix in Redis.
        hold_ttl: Seconds a hold lives unless its process renews it (it does, every third).
        idle_ttl: Seconds a thread's keys live after its last hold or settle.
        poll: Seconds between two asks of a call waiting for other calls to settle.
        timeout: Seconds a Redis command may take before Redis counts as away.
        retry_every: Seconds between attempts to reach Redis again while it is away.
    """

    def __init__(
        self,
        url: str,
        scope: str,
        *,
        prefix: str = "copydesk:budget",
        hold_ttl: float = 60.0,
        idle_ttl: int = 86400,
        poll: float = 0.05,
        timeout: float = 3.0,
        retry_every: float = 2.0,
    ) -> None:
        self.location = redis_location(url)
        self.local = SpendBook()
        self._url, self._scope, self._prefix = url, scope, prefix
        self._hold_ms, self._idle_ttl = max(1, int(hold_ttl * 1000)), idle_ttl
        self._poll, self._timeout, self._retry_every = poll, timeout, retry_every
        self._retry_at: float | None = None  # set while Redis is away
        self._me = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._ids = itertools.count(1)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def shared(self) -> bool:
        """True while the books live in Redis (False: in this process's own book)."""
        return self._retry_at is None

    def keys(self, thread: str) -> list[str]:
        """The Redis keys of `thread`'s book: spent, hold expiries, hold sizes."""
        stem = thread_key(self._prefix, self._scope, thread)
        return [f"{stem}:spent", f"{stem}:expiry", f"{stem}:holds"]

    def forget(self, thread: str) -> None:
        """Count `thread` from its state again in this process's own book. The shared book
        is kept: it counts what every process spent, which another may be doing now."""
        self.local.forget(thread)

    async def hold(
        self,
        allowance: Allowance,
        prompt: int,
        cap: int | None,
        price: tuple[float, float] = (0.0, 0.0),
    ) -> Hold:
        """See `SpendBook.hold`: the same, with every process's spending and holds."""
        if allowance.closed:
            raise BudgetSpentError.of(allowance, allowance.closed)
        ours = self._loop()
        await ours.drain()  # this loop's settles reach Redis before it holds again
        while self._reachable():
            ident = f"{self._me}-{next(self._ids)}"
            try:
                answer = await ours.hold(
                    keys=self.keys(allowance.thread),
                    args=[
                        allowance.spent_tokens,
                        repr(allowance.spent_cost),
                        allowance.tokens,
                        repr(allowance.cost),
                        prompt,
                        -1 if cap is None else cap,
                        repr(price[0]),
                        repr(price[1]),
                        ident,
                        self._hold_ms,
                        self._idle_ttl,
                    ],
                )
            except _REDIS_DOWN as error:
                self._went_away(error)
                break
            self._came_back()
            status, ending = (_text(part) for part in answer[:2])
            if status == "refused":
                raise BudgetSpentError.of(allowance, ending)
            if status == "held":
                want, tokens, cost = (_text(part) for part in answer[2:5])
                given = None if want == "-1" else int(want)
                reduced = given is not None and (cap is None or given < cap)
                hold = Hold(
                    allowance.thread, int(tokens), float(cost), given, reduced, ending, ident
                )
                ours.keep(ident, self._renewing(ours, hold))
                return hold
            await asyncio.sleep(self._poll)  # other calls hold the rest: one of them settles
        return await self.local.hold(allowance, prompt, cap, price)

    def settle(self, hold: Hold, usage: UsageTotals | None) -> None:
        """See `SpendBook.settle`; a hold Redis gave is settled there (soon, on this loop)."""
        if not hold.ident:
            self.local.settle(hold, usage)
            return
        # This process's own book counts the spend too, for when Redis goes away.
        self.local.settle(Hold(hold.thread, 0, 0.0, hold.cap, hold.reduced, hold.ending), usage)
        ours = self._loop()
        ours.stop_renewing(hold.ident)
        ours.spawn(self._settle(ours, hold, usage))

    async def _settle(self, ours: _Loop, hold: Hold, usage: UsageTotals | None) -> None:
        used = ["", "0"]
        if usage is not None:
            used = [
                str(usage["prompt_tokens"] + usage["completion_tokens"]),
                repr(usage.get("cost_usd", 0.0)),
            ]
        try:
            await ours.settle(keys=self.keys(hold.thread), args=[hold.ident, *used, self._idle_ttl])
        except _REDIS_DOWN as error:
            self._went_away(error)  # the hold lapses in Redis; the spend is in the state

    async def _renewing(self, ours: _Loop, hold: Hold) -> None:
        """Keep `hold` alive in Redis while its call runs."""
        every = self._hold_ms / 3000
        while True:
            await asyncio.sleep(every)
            try:
                await ours.renew(keys=self.keys(hold.thread)[1:2], args=[hold.ident, self._hold_ms])
            except _REDIS_DOWN as error:
                self._went_away(error)

    def _reachable(self) -> bool:
        return self._retry_at is None or time.monotonic() >= self._retry_at

    def _went_away(self, error: BaseException) -> None:
        if self._retry_at is None:
            log.warning(
                "Redis at %s is unreachable (%s); this process keeps thread budgets on its "
                "own until Redis is back",
                self.location,
                type(error).__name__,
            )
        self._retry_at = time.monotonic() + self._retry_every

    def _came_back(self) -> None:
        if self._retry_at is not None:
            log.warning("Redis at %s is back; thread budgets are shared again", self.location)
            self._retry_at = None

    def _loop(self) -> _Loop:
        loop = asyncio.get_running_loop()
        ours = self._loops.get(loop)
        if ours is None:
            ours = self._loops[loop] = _Loop(self._url, self._timeout)
        return ours

    async def aclose(self) -> None:
        """Settle what this event loop still has in flight, and close its connections."""
        ours = self._loops.pop(asyncio.get_running_loop(), None)
        if ours is not None:
            await ours.aclose()


class _Loop:
    """One event loop's Redis client, the scripts on it, and its settles and renewals."""

    def __init__(self, url: str, timeout: float) -> None:
        self.redis: Any = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.hold = self.redis.register_script(_HOLD)
        self.settle = self.redis.register_script(_SETTLE)
        self.renew = self.redis.register_script(_RENEW)
        self._pending: set[asyncio.Task[None]] = set()
        self._renewals: dict[str, asyncio.Task[None]] = {}

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (a settle) on this loop; `drain` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def keep(self, ident: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (renewing hold `ident`) until `stop_renewing(ident)`."""
        self._renewals[ident] = asyncio.get_running_loop().create_task(work)

    def stop_renewing(self, ident: str) -> None:
        task = self._renewals.pop(ident, None)
        if task is not None:
            task.cancel()

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*self._pending)

    async def aclose(self) -> None:
        for ident in list(self._renewals):
            self.stop_renewing(ident)
        await self.drain()
        await self.redis.aclose()


def _text(part: Any) -> str:
    return part.decode() if isinstance(part, bytes) else str(part)
