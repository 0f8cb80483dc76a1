"""The request and token limiter every model call waits on.

One `RateLimiter` exists per (base URL, model, key fingerprint) in a `LimiterRegistry`, which
the client owns, so every chatbot, thread and parallel branch that shares the client shares the
budget. Requests are paced (GCRA: one request every `60 / rpm` seconds, no bursts), because
providers enforce "per minute" limits over much shorter windows; tokens are counted over a
sliding 60-second window, estimated with tiktoken before the call and corrected with the
usage the server reports after it. The `x-ratelimit-*` headers of each response lower the
limits and account for other clients of the same key.

Waiting calls are served by priority (a verdict before a draft before a background summary),
round-robin between conversation threads within a priority, and a call that has waited longer
than `max_wait_unfair` seconds goes next whatever its priority, so nothing starves.

A limiter that knows no limit yet (none set, no response seen) lets one call go first and
holds the others until that call's response headers arrive (or `probe_wait` passes): a cold
`run-many` would otherwise send every conversation's first request at once, before the
server could say its limit, and a rate-limited server answers most of that burst with 429.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from copydesk.agents.client.resilience import CircuitBreaker
from copydesk.agents.client.windows import CATCH_UP, LocalWindows, Windows

__all__ = ["LimiterRegistry", "Permit", "Priority", "RateLimiter", "parse_reset"]

log = logging.getLogger("copydesk.limiter")

LATE_STEP = 0.025
"""Seconds the send check's window grows by each time the server refuses a paced request."""
LATE_CAP = 0.15
"""The most it grows: at 8 requests/s about 13 % of the budget."""


class Priority(IntEnum):
    """Who goes first when calls wait (lower first)."""

    VERDICT = 0
    """An editor's decision: the conversation waits on it."""
    DRAFT = 1
    """A writer's draft or any ordinary call."""
    BACKGROUND = 2
    """Summaries and other work nobody is waiting for."""


@dataclass(frozen=True)
class Permit:
    """The right to make one call, and what it was estimated to cost."""

    spend_id: str
    tokens: int


@dataclass(eq=False)
class _Waiter:
    priority: Priority
    thread: str
    tokens: int
    since: float
    future: asyncio.Future[Permit]
    loop: asyncio.AbstractEventLoop
    done: bool = False


def parse_reset(text: str) -> float | None:
    """Seconds in an `x-ratelimit-reset-*` header (`1s`, `6m0s`, `120ms`, `0.5`)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number, index = "", index + len(unit)
    return total if not number else None


class RateLimiter:
    """Paces requests and tokens for one (endpoint, model, key).

    Args:
        name: What it limits, for log lines (never the key).
        rpm: Requests per minute; None for no request limit.
        tpm: Tokens per minute; None for no token limit.
        windows: Where the budget lives (this process, or Redis for many processes).
        safety: Share of `rpm` actually used, a margin for clock and network jitter.
        max_wait_unfair: Seconds after which a waiting call goes first, whatever its priority.
        horizon: Seconds ahead a call may be given its request slot (it then waits for it
            outside the queue); longer keeps the pace under load, shorter serves priorities
            more strictly.
        probe_wait: Seconds the other calls wait for the first call's response headers
            while no limit is known (0: no probe; the registry sets it for HTTP servers).
        clock: Monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        name: str,
        *,
        rpm: float | None = None,
        tpm: int | None = None,
        windows: Windows | None = None,
        safety: float = 0.97,
        max_wait_unfair: float = 5.0,
        horizon: float = 0.1,
        probe_wait: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.rpm = rpm
        self.tpm = tpm
        self.safety = safety
        self.max_wait_unfair = max_wait_unfair
        self.horizon = horizon
        self.windows: Windows = windows or LocalWindows(clock=clock)
        self._clock = clock
        self._lock = threading.Lock()
        self._queues: dict[Priority, OrderedDict[str, deque[_Waiter]]] = {
            p: OrderedDict() for p in Priority
        }
        self._arrivals: dict[Priority, deque[_Waiter]] = {p: deque() for p in Priority}
        self._waiting = 0
        self._paused_until = 0.0
        self._foreign_tokens = 0
        self._timers: dict[asyncio.AbstractEventLoop, tuple[float, asyncio.TimerHandle]] = {}
        self._pumping = False  # a pump is granting calls (on some event loop)
        self._again = False  # something changed while it was: it goes round once more
        self._tasks: set[asyncio.Task[None]] = set()
        self.missed = 0
        """Reserved request slots given up because the event loop reached them late."""
        self._completion_guess = 64.0
        self.probe_wait = probe_wait
        self._heard = rpm is not None or tpm is not None or probe_wait <= 0  # no probe
        self._probe_since: float | None = None
        self._late_allowance = 0.0
        """Seconds added to the send check's window after the server refused a paced request:
        what this machine's scheduling and network add between a send and its arrival."""

    @property
    def interval(self) -> float:
        """Seconds between two requests (0 with no request limit)."""
        return 60.0 / (self.rpm * self.safety) if self.rpm else 0.0

    @property
    def waiting(self) -> int:
        """Calls waiting for their turn now."""
        return self._waiting

    def estimate(self, prompt_tokens: int, max_tokens: int | None = None) -> int:
        """Tokens to reserve: the prompt plus `max_tokens` or the completions seen so far."""
        return prompt_tokens + (max_tokens or round(self._completion_guess))

    async def acquire(
        self, tokens: int, *, priority: Priority = Priority.DRAFT, thread: str = ""
    ) -> Permit:
        """Wait for this call's turn and spend its request and `tokens` estimate."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(priority, thread, tokens, self._clock(), loop.create_future(), loop)
        with self._lock:
            self._queues[priority].setdefault(thread, deque()).append(waiter)
            self._arrivals[priority].append(waiter)
            self._waiting += 1
        self._kick()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if not waiter.done:
                    self._forget(waiter)
            raise

    async def settle(self, permit: Permit, prompt_tokens: int, completion_tokens: int) -> None:
        """Replace the estimate with what the server reported; learn the typical reply size."""
        actual = prompt_tokens + completion_tokens
        if completion_tokens:
            self._completion_guess += 0.1 * (completion_tokens - self._completion_guess)
        if actual != permit.tokens:
            await self.windows.settle(permit.spend_id, actual - permit.tokens)
            if actual < permit.tokens and self._waiting:
                self._kick()  # freed tokens may let a waiting call go sooner

    async def refund(self, permit: Permit) -> None:
        """The server refused the call (a 429 is not billed): give its tokens back."""
        if permit.tokens:
            await self.windows.settle(permit.spend_id, -permit.tokens)
            if self._waiting:
                self._kick()

    async def pause(self, seconds: float) -> None:
        """Hold every waiting call for `seconds` (the server said it is over its limit);
        with a shared budget, every process's calls."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
        if self.interval:
            await self.windows.hold_until(time.monotonic() + seconds)
        self._kick()

    async def refused(self, seconds: float) -> None:
        """The server answered 429 although the calls were paced: hold every call for
        `seconds`, and from now on leave more room on actual sends (requests reach the server
        later than they leave here, by more than the `safety` margin allows)."""
        self._late_allowance = min(self._late_allowance + LATE_STEP, LATE_CAP)
        await self.pause(seconds)

    @property
    def send_check(self) -> tuple[int, float] | None:
        """`(count, window)`: at most `count` requests go on the wire in `window` seconds
        (None below one request a second: pacing alone keeps those apart)."""
        if not self.rpm or self.rpm < 60:
            return None
        per_second = self.rpm / 60
        count = int(per_second)
        # the slots' margin on actual sends, plus what late arrivals have shown is needed
        return count, count / (per_second * self.safety) + self._late_allowance

    async def sending(self) -> None:
        """Called as a request goes on the wire: wait while a provider window's worth of
        requests went within that window (plus the `safety` margin), in every process sharing
        the budget.

        Slots are paced with a margin, but a request can reach the wire later than its slot
        (a busy event loop, a new connection) and then follow the one before it closely; a
        provider counting requests in a sliding window would refuse the last of them. The
        check is on actual send times, so it only waits when pacing was undone that way.
        """
        check = self.send_check
        if check is None:
            return
        count, window = check
        wait = await self.windows.sent(count, window)
        while wait > 0:  # a timed wait on the budget's clock, not on an event
            await asyncio.sleep(wait)
            wait = await self.windows.sent(count, window)

    async def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to the `x-ratelimit-*` headers of a response."""
        probing = not self._heard
        limit_tokens = _int(headers.get("x-ratelimit-limit-tokens"))
        if limit_tokens and (self.tpm is None or limit_tokens < self.tpm):
            log.info("%s: server allows %d tokens/min; using that", self.name, limit_tokens)
            self.tpm = limit_tokens
        limit_requests = _int(headers.get("x-ratelimit-limit-requests"))
        if limit_requests and self.rpm is None:
            self.rpm = float(limit_requests)  # OpenAI reports requests per minute
            if probing:  # the probe reached the server before now: the next slot is after it
                await self.windows.hold_until(time.monotonic() + self.interval)
        if not self._heard:
            self._heard = True  # the probe answered: the others go, at the pace it tells
            self._kick()
        left_tokens = _int(headers.get("x-ratelimit-remaining-tokens"))
        if left_tokens is not None and self.tpm:
            # What the server counted beyond our own spends belongs to other clients of the
            # key. Our own count already includes calls still in flight, so this never
            # mistakes our in-flight calls for foreign ones.
            used = await self.windows.used_tokens()
            self._foreign_tokens = max(0, self.tpm - left_tokens - used)
        left_requests = _int(headers.get("x-ratelimit-remaining-requests"))
        if left_requests == 0:
            reset = parse_reset(headers.get("x-ratelimit-reset-requests", "") or "")
            await self.pause(reset if reset is not None else self.interval)
        elif left_requests == 1 and self.interval:
            await self.pause(self.interval)  # one short of the limit: late requests bunched up

    def _forget(self, waiter: _Waiter) -> None:
        waiter.done = True
        self._waiting -= 1
        queue = self._queues[waiter.priority].get(waiter.thread)
        if queue is not None:
            queue.remove(waiter)
            if not queue:
                del self._queues[waiter.priority][waiter.thread]

    def _next(self, now: float) -> _Waiter | None:
        """The waiter whose turn it is (not removed)."""
        oldest: _Waiter | None = None
        for priority in Priority:
            arrivals = self._arrivals[priority]
            while arrivals and arrivals[0].done:
                arrivals.popleft()
            if arrivals and (oldest is None or arrivals[0].since < oldest.since):
                oldest = arrivals[0]
        if oldest is not None and now - oldest.since > self.max_wait_unfair:
            return oldest  # waited too long: goes first, whatever its priority
        for priority in Priority:
            threads = self._queues[priority]
            if threads:
                return next(iter(threads.values()))[0]
        return None

    def _kick(self) -> None:
        """Have a pump run on the running event loop (or the running one go round again)."""
        with self._lock:
            if self._pumping:
                self._again = True
                return
            self._pumping = True
        task = asyncio.get_running_loop().create_task(self._pump())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pump(self) -> None:
        """Grant calls until none fits, again while something changed meanwhile."""
        delay = 0.0
        try:
            while True:
                with self._lock:
                    self._again = False
                delay = await self._grant()
                with self._lock:
                    if not self._again:
                        self._pumping = False
                        break
        except BaseException:
            with self._lock:
                self._pumping = False
            raise
        if delay > 0:
            self._wake_in(delay)

    async def _grant(self) -> float:
        """Grant every call whose turn it is and that fits; seconds until one may fit."""
        while True:
            with self._lock:
                now = self._clock()
                waiter = self._next(now) if self._waiting else None
                if waiter is None:
                    return 0.0
                if self._paused_until > now:
                    return self._paused_until - now
                if not self._heard:
                    if self._probe_since is None:
                        self._probe_since = now  # this call goes alone, to learn the limits
                    elif now - self._probe_since < self.probe_wait:
                        return self._probe_since + self.probe_wait - now
                    else:
                        self._heard = True  # no answer in time: stop holding the others
            delay, spend_id = await self.windows.spend(
                waiter.tokens, self.interval, self.tpm, self._foreign_tokens, self.horizon
            )
            if not spend_id:
                return delay
            with self._lock:
                cancelled = waiter.done
                if not cancelled:
                    self._forget(waiter)
                    queue = self._queues[waiter.priority]
                    if waiter.thread in queue:  # round-robin: this thread goes to the back
                        queue.move_to_end(waiter.thread)
            permit = Permit(spend_id, waiter.tokens)
            if cancelled:  # gave up while its slot was being taken: the tokens go back
                await self.windows.settle(spend_id, -waiter.tokens)
            elif delay > 0:  # its slot is reserved: it goes then
                due = time.monotonic() + delay
                _call_later(waiter.loop, delay, self._deliver, waiter, permit, due)
            else:
                _resolve(waiter.future, permit)

    def _deliver(self, waiter: _Waiter, permit: Permit, due: float) -> None:
        """Let a call go in the request slot reserved for it at `due` (on its event loop).

        A slot the loop reached more than `CATCH_UP` seconds late is given up: sending then
        would bunch this request with the ones after it (several late slots fire at once
        after the loop was busy), which a provider's one-second window counts as a burst.
        The call goes back to the head of its queue and takes a new slot.
        """
        if waiter.future.done():
            return
        if not self.interval or time.monotonic() - due <= CATCH_UP:
            _resolve(waiter.future, permit)
            return
        with self._lock:
            waiter.done = False
            self._waiting += 1
            threads = self._queues[waiter.priority]
            threads.setdefault(waiter.thread, deque()).appendleft(waiter)
            threads.move_to_end(waiter.thread, last=False)
            self._arrivals[waiter.priority].appendleft(waiter)
            self.missed += 1
        if permit.tokens:
            self._spawn(self.windows.settle(permit.spend_id, -permit.tokens))
        self._kick()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _wake_in(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        known = self._timers.get(loop)
        if known is not None and loop.time() <= known[0] <= due:
            return  # an earlier wake-up is pending already
        if known is not None:
            known[1].cancel()
        self._timers[loop] = (due, loop.call_at(due, self._kick))


def _call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., object], *args: object
) -> None:
    """Run `callback(*args)` in `delay` seconds on `loop`, from any thread."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.call_later(delay, callback, *args)
    else:
        loop.call_soon_threadsafe(loop.call_later, delay, callback, *args)


def _resolve(future: asyncio.Future[Permit], permit: Permit) -> None:
    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        if not future.done():
            future.set_result(permit)
    else:
        loop.call_soon_threadsafe(_resolve, future, permit)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass
class LimiterRegistry:
    """The limiters of one process (or, with Redis, of every process sharing `redis_url`).

    Attributes:
        rpm: Requests per minute for every limiter (None: learn from the headers).
        tpm: Tokens per minute (None: learn from the headers).
        redis_url: Share each budget with every process using this Redis.
        prefix: Key prefix in Redis.
        safety: Share of the request limit used (the rest absorbs jitter).
    """

    rpm: float | None = None
    tpm: int | None = None
    redis_url: str | None = None
    prefix: str = "copydesk:limit"
    safety: float = 0.97
    _limiters: dict[tuple[str, str, str], RateLimiter] = field(default_factory=dict)
    _breakers: dict[tuple[str, str], CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def aclose(self) -> None:
        """Close the running event loop's connections to Redis (made again if used later)."""
        with self._lock:
            limiters = list(self._limiters.values())
        for limiter in limiters:
            close = getattr(limiter.windows, "aclose", None)
            if close is not None:
                await close()

    def breaker(self, endpoint: str, model: str) -> CircuitBreaker:
        """The circuit breaker of (endpoint, model), made on first use."""
        with self._lock:
            known = self._breakers.get((endpoint, model))
            if known is None:
                known = self._breakers[(endpoint, model)] = CircuitBreaker(f"{model} at {endpoint}")
            return known

    def get(self, endpoint: str, model: str, key_id: str) -> RateLimiter:
        """The limiter for (endpoint, model, key fingerprint), made on first use."""
        ident = (endpoint, model, key_id)
        with self._lock:
            limiter = self._limiters.get(ident)
            if limiter is None:
                windows: Windows | None = None
                if self.redis_url:
                    from copydesk.agents.client.windows_redis import RedisWindows

                    windows = RedisWindows(self.redis_url, f"{self.prefix}:{'|'.join(ident)}")
                limiter = RateLimiter(
                    f"{model} at {endpoint}",
                    rpm=self.rpm,
                    tpm=self.tpm,
                    windows=windows,
                    safety=self.safety,
                    # Only a server can say its limits: the offline model is not probed.
                    probe_wait=2.0 if endpoint.startswith(("http://", "https://")) else 0.0,
                )
                self._limiters[ident] = limiter
            return limiter
