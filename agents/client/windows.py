"""Where a rate limiter keeps its budget: the `Windows` interface and its in-process form.

A budget is two things: the time the next request may go (GCRA pacing: each request pushes
it `interval` seconds on) and the tokens spent in the last 60 seconds, each spend kept with
an id so the estimate can be corrected when the server reports the real usage.

A spend may reserve a request slot up to `horizon` seconds ahead: the caller then sends at
that time. Slots handed out in advance are never lost to an event loop that wakes up late,
and processes sharing a budget take turns instead of racing for each slot.
`copydesk.agents.client.windows_redis` keeps the same state in Redis for many processes.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["CATCH_UP", "TOKEN_WINDOW", "LocalWindows", "Windows"]

TOKEN_WINDOW = 60.0
"""Seconds over which tokens per minute are counted."""
CATCH_UP = 0.01
"""Seconds of request slots left unused a moment ago that a request may still take. With the
limiter's 3 % margin a provider's one-second window still sees under its limit."""


class Windows(Protocol):
    """The request pacing and token window of one budget (async: it may live in Redis)."""

    async def spend(
        self, tokens: int, interval: float, tpm: int | None, foreign: int, horizon: float = 0.0
    ) -> tuple[float, str]:
        """Spend one request slot and `tokens` if both fit.

        Args:
            tokens: The call's token estimate.
            interval: Seconds between requests (0: no request limit).
            tpm: Tokens per minute, or None.
            foreign: Tokens other clients of the key spent lately (from response headers).
            horizon: Reserve the next request slot if it is at most this many seconds away.

        Returns:
            `(seconds until the reserved slot, spend id)` when spent, else
            `(seconds until it would fit, "")`.
        """
        ...

    async def settle(self, spend_id: str, delta: int) -> None:
        """Correct a spend's tokens by `delta` (while it is still in the window)."""
        ...

    async def hold_until(self, moment: float) -> None:
        """Give out no request slot before `moment` (`time.monotonic()` seconds)."""
        ...

    async def used_tokens(self) -> int:
        """Tokens spent in the current window."""
        ...

    async def sent(self, count: int, window: float) -> float:
        """A request goes on the wire now: recorded, and 0 returned, if fewer than `count`
        went in the last `window` seconds; else the seconds until the oldest leaves it."""
        ...


class LocalWindows:
    """A budget for this process only (its `*_now` methods are the synchronous forms).

    Args:
        clock: Monotonic clock.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next_request = 0.0
        self._spends: deque[list[float]] = deque()  # [time, tokens, id]
        self._by_id: dict[int, list[float]] = {}
        self._total = 0
        self._ids = itertools.count(1)
        self._sent: deque[float] = deque()  # when the last requests went on the wire

    async def spend(
        self, tokens: int, interval: float, tpm: int | None, foreign: int, horizon: float = 0.0
    ) -> tuple[float, str]:
        """See `Windows.spend`."""
        return self.spend_now(tokens, interval, tpm, foreign, horizon)

    async def settle(self, spend_id: str, delta: int) -> None:
        """See `Windows.settle`."""
        self.settle_now(spend_id, delta)

    async def hold_until(self, moment: float) -> None:
        """See `Windows.hold_until`."""
        self.hold_now(moment)

    async def used_tokens(self) -> int:
        """See `Windows.used_tokens`."""
        return self.used_now()

    async def sent(self, count: int, window: float) -> float:
        """See `Windows.sent`."""
        return self.sent_now(count, window)

    def sent_now(self, count: int, window: float) -> float:
        """`Windows.sent`, synchronously."""
        now = self._clock()
        sent = self._sent
        while sent and now - sent[0] >= window - 1e-9:
            sent.popleft()
        if len(sent) < count:
            sent.append(now)
            return 0.0
        return sent[-count] + window - now

    def spend_now(
        self, tokens: int, interval: float, tpm: int | None, foreign: int, horizon: float = 0.0
    ) -> tuple[float, str]:
        """`Windows.spend`, synchronously."""
        now = self._clock()
        self._prune(now)
        # A slot missed a moment ago may be taken up; a longer idle spell earns no burst.
        slot = max(self._next_request, now - CATCH_UP) if interval else now
        wait = slot - now - horizon
        if tpm is not None:
            wait = max(wait, self._token_wait(tokens, tpm - foreign, now))
        if wait > 0:
            return wait, ""
        if interval:
            self._next_request = slot + interval
        ident = next(self._ids)
        entry = [now, float(tokens), float(ident)]
        self._spends.append(entry)
        self._by_id[ident] = entry
        self._total += tokens
        return max(slot - now, 0.0), str(ident)

    def hold_now(self, moment: float) -> None:
        """Give out no request slot before `moment` (slots another budget handed out)."""
        self._next_request = max(self._next_request, moment)

    def settle_now(self, spend_id: str, delta: int) -> None:
        """`Windows.settle`, synchronously."""
        entry = self._by_id.get(int(spend_id)) if spend_id else None
        if entry is not None:
            delta = max(delta, -int(entry[1]))
            entry[1] += delta
            self._total += delta

    def used_now(self) -> int:
        """`Windows.used_tokens`, synchronously."""
        self._prune(self._clock())
        return self._total

    def _prune(self, now: float) -> None:
        while self._spends and self._spends[0][0] <= now - TOKEN_WINDOW:
            _, tokens, ident = self._spends.popleft()
            self._total -= int(tokens)
            del self._by_id[int(ident)]

    def _token_wait(self, tokens: int, allowed: int, now: float) -> float:
        if self._total + tokens <= allowed:
            return 0.0
        if tokens >= allowed:  # larger than the whole budget: goes alone, into an empty window
            return self._spends[-1][0] + TOKEN_WINDOW - now if self._spends else 0.0
        used = self._total
        for stamp, spent, _ in self._spends:
            used -= int(spent)
            if used + tokens <= allowed:
                return max(stamp + TOKEN_WINDOW - now, 0.001)
        # Not reached while tokens < allowed: the last spend's expiry frees enough.
        return TOKEN_WINDOW  # pragma: no cover
