"""`RateLimiter`: paces the requests and tokens of one (endpoint, model, key).

Requests are paced (GCRA: one request every `60 / rpm` seconds, no bursts), because providers
enforce "per minute" limits over much shorter windows; tokens are counted over a sliding
60-second window, estimated with tiktoken before the call and corrected with the usage the
server reports after it. The `x-ratelimit-*` headers of each response lower the limits and
account for other clients of the same key. Waiting calls take their turns as `waiting.py`
orders them; the budget itself lives in `windows.py` (this process) or `windows_redis.py`
(every process sharing a Redis).

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
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from copydesk.agents.client.headers import header_int, parse_reset
from copydesk.agents.client.waiting import Permit, Priority, Waiter, WaitQueue
from copydesk.agents.client.windows import CATCH_UP, LocalWindows, Windows

__all__ = ["LATE_CAP", "LATE_STEP", "RateLimiter"]

log = logging.getLogger("copydesk.limiter")

LATE_STEP = 0.025
"""Seconds the send check's window grows by each time the server refuses a paced request."""
LATE_CAP = 0.15
"""The most it grows: at 8 requests/s about 13 % of the budget."""


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
        self._queue = WaitQueue()
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
        return self._queue.waiting

    def estimate(self, prompt_tokens: int, max_tokens: int | None = None) -> int:
        """Tokens to reserve: the prompt plus `max_tokens` or the completions seen so far."""
        return prompt_tokens + (max_tokens or round(self._completion_guess))

    async def acquire(
        self, tokens: int, *, priority: Priority = Priority.DRAFT, thread: str = ""
    ) -> Permit:
        """Wait for this call's turn and spend its request and `tokens` estimate."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(priority, thread, tokens, self._clock(), loop.create_future(), loop)
        with self._lock:
            self._queue.add(waiter)
        self._kick()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if not waiter.done:
                    self._queue.forget(waiter)
            raise

    async def settle(self, permit: Permit, prompt_tokens: int, completion_tokens: int) -> None:
        """Replace the estimate with what the server reported; learn the typical reply size."""
        actual = prompt_tokens + completion_tokens
        if completion_tokens:
            self._completion_guess += 0.1 * (completion_tokens - self._completion_guess)
        if actual != permit.tokens:
            await self.windows.settle(permit.spend_id, actual - permit.tokens)
            if actual < permit.tokens and self._queue.waiting:
                self._kick()  # freed tokens may let a waiting call go sooner

    async def refund(self, permit: Permit) -> None:
        """The server refused the call (a 429 is not billed): give its tokens back."""
        if permit.tokens:
            await self.windows.settle(permit.spend_id, -permit.tokens)
            if self._queue.waiting:
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
        limit_tokens = header_int(headers.get("x-ratelimit-limit-tokens"))
        if limit_tokens and (self.tpm is None or limit_tokens < self.tpm):
            log.info("%s: server allows %d tokens/min; using that", self.name, limit_tokens)
            self.tpm = limit_tokens
        limit_requests = header_int(headers.get("x-ratelimit-limit-requests"))
        if limit_requests and self.rpm is None:
            self.rpm = float(limit_requests)  # OpenAI reports requests per minute
            if probing:  # the probe reached the server before now: the next slot is after it
                await self.windows.hold_until(time.monotonic() + self.interval)
        if not self._heard:
            self._heard = True  # the probe answered: the others go, at the pace it tells
            self._kick()
        left_tokens = header_int(headers.get("x-ratelimit-remaining-tokens"))
        if left_tokens is not None and self.tpm:
            # What the server counted beyond our own spends belongs to other clients of the
            # key. Our own count already includes calls still in flight, so this never
            # mistakes our in-flight calls for foreign ones.
            used = await self.windows.used_tokens()
            self._foreign_tokens = max(0, self.tpm - left_tokens - used)
        left_requests = header_int(headers.get("x-ratelimit-remaining-requests"))
        if left_requests == 0:
            reset = parse_reset(headers.get("x-ratelimit-reset-requests", "") or "")
            await self.pause(reset if reset is not None else self.interval)
        elif left_requests == 1 and self.interval:
            await self.pause(self.interval)  # one short of the limit: late requests bunched up

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
                waiter = (
                    self._queue.next(now, self.max_wait_unfair) if self._queue.waiting else None
                )
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
                    self._queue.granted(waiter)  # round-robin: its thread goes to the back
            permit = Permit(spend_id, waiter.tokens)
            if cancelled:  # gave up while its slot was being taken: the tokens go back
                await self.windows.settle(spend_id, -waiter.tokens)
            elif delay > 0:  # its slot is reserved: it goes then
                due = time.monotonic() + delay
                waiter.call_later(delay, self._deliver, waiter, permit, due)
            else:
                waiter.grant(permit)

    def _deliver(self, waiter: Waiter, permit: Permit, due: float) -> None:
        """Let a call go in the request slot reserved for it at `due` (on its event loop).

        A slot the loop reached more than `CATCH_UP` seconds late is given up: sending then
        would bunch this request with the ones after it (several late slots fire at once
        after the loop was busy), which a provider's one-second window counts as a burst.
        The call goes back to the head of its queue and takes a new slot.
        """
        if waiter.future.done():
            return
        if not self.interval or time.monotonic() - due <= CATCH_UP:
            waiter.grant(permit)
            return
        with self._lock:
            self._queue.put_back(waiter)
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
