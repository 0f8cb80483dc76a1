"""Sliding-window request and token budget for the fake OpenAI server.

``RateBudget`` mimics a provider's rate limits: a requests-per-second limit
checked over a sliding window of about one second, and a tokens-per-minute
limit checked over a sliding 60-second window. Rejected requests are not
counted against either window, just as a real provider does not bill them.

Requests are counted at the time they arrived, as a provider counts them, not at the time a
handler thread got round to checking them: the server answers after its latency, and under
CPU load a handler thread can wake up tens of milliseconds late, which would bunch requests
that arrived evenly. A stamp may thus come in earlier than one already counted; it is then
checked against every one-second window it falls in.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
import time
from collections import deque

__all__ = ["UNLIMITED_REQUESTS", "UNLIMITED_TOKENS", "RateBudget", "format_seconds"]

UNLIMITED_REQUESTS = 10_000
UNLIMITED_TOKENS = 10_000_000
_TOKEN_WINDOW = 60.0


class RateBudget:
    """Thread-safe admission control; inactive until :meth:`configure` sets a limit."""

    def __init__(self) -> None:
        """Create a budget with no limits."""
        self._lock = threading.Lock()
        self._rps: float | None = None
        self._tpm: int | None = None
        self._requests: list[float] = []  # arrival stamps, sorted
        self._tokens: deque[tuple[float, int]] = deque()

    def configure(self, rps: float | None = None, tpm: int | None = None) -> None:
        """Set (or, with no arguments, remove) the limits and empty both windows.

        Args:
            rps: Allowed requests per second. A whole number ``n`` allows ``n``
                requests in any 1-second window; a fractional rate keeps the
                same average with a window of ``floor(rps) / rps`` seconds
                (``0.5`` allows one request every 2 seconds).
            tpm: Allowed tokens per sliding 60-second window.

        Raises:
            ValueError: If a limit is not positive.
        """
        if rps is not None and rps <= 0:
            raise ValueError("rps must be > 0")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be > 0")
        with self._lock:
            self._rps = rps
            self._tpm = tpm
            self._requests.clear()
            self._tokens.clear()

    def admit(self, tokens: int, at: float | None = None) -> float | None:
        """Try to spend one request and ``tokens`` tokens at time ``at``.

        Args:
            tokens: Token cost of the request.
            at: ``time.monotonic()`` when the request arrived (default: now).

        Returns:
            ``None`` if admitted (and recorded), otherwise the number of seconds
            after which the same request would fit.
        """
        now = time.monotonic()
        stamp = min(now if at is None else at, now)
        with self._lock:
            if self._rps is None and self._tpm is None:
                return None
            self._prune(now)
            wait = 0.0
            if self._rps is not None:
                wait = self._request_wait(stamp, now)
            if self._tpm is not None:
                wait = max(wait, self._token_wait(tokens, self._tpm, now))
            if wait > 0:
                return max(wait, 0.001)
            bisect.insort(self._requests, stamp)
            self._tokens.append((now, tokens))
            return None

    def headers(self, *, per_minute: bool = False) -> dict[str, str]:
        """Return the ``x-ratelimit-*`` headers describing the current budget.

        Args:
            per_minute: Report the request budget per minute, as OpenAI does (a limit of
                ``rps`` is sent as ``rps * 60``, what is left of the current window scaled
                alike), instead of per request window.
        """
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            if self._rps is None:
                limit_requests, left_requests = UNLIMITED_REQUESTS, UNLIMITED_REQUESTS
            else:
                limit_requests = _request_window(self._rps)[0]
                recent = len(self._requests) - bisect.bisect_right(
                    self._requests, now - _request_window(self._rps)[1]
                )
                left_requests = max(limit_requests - recent, 0)
                if per_minute:
                    scale = 60 / _request_window(self._rps)[1]
                    limit_requests = round(limit_requests * scale)
                    left_requests = round(left_requests * scale)
            if self._tpm is None:
                limit_tokens, left_tokens = UNLIMITED_TOKENS, UNLIMITED_TOKENS
            else:
                limit_tokens = self._tpm
                left_tokens = max(self._tpm - sum(n for _, n in self._tokens), 0)
        return {
            "x-ratelimit-limit-requests": str(limit_requests),
            "x-ratelimit-remaining-requests": str(left_requests),
            "x-ratelimit-limit-tokens": str(limit_tokens),
            "x-ratelimit-remaining-tokens": str(left_tokens),
        }

    def _prune(self, now: float) -> None:
        """Forget entries that have left their windows (caller holds the lock)."""
        if self._rps is not None:
            window = _request_window(self._rps)[1]
            # Kept a window longer: a request that arrived a while ago may still be checked.
            del self._requests[: bisect.bisect_right(self._requests, now - 2 * window)]
        else:
            self._requests.clear()
        while self._tokens and self._tokens[0][0] <= now - _TOKEN_WINDOW:
            self._tokens.popleft()

    def _request_wait(self, stamp: float, now: float) -> float:
        """Seconds until a request stamped ``stamp`` would fit (caller holds the lock).

        Every window ``(end - window, end]`` with ``end`` in ``[stamp, stamp + window)``
        that would hold the new stamp must stay within capacity; only the ends at ``stamp``
        and at later stamps need checking.
        """
        assert self._rps is not None
        capacity, window = _request_window(self._rps)
        stamps = self._requests
        first_later = bisect.bisect_right(stamps, stamp)
        ends = [stamp, *itertools.islice(stamps, first_later, None)]
        for end in ends:
            if end >= stamp + window:
                break
            low = bisect.bisect_right(stamps, end - window)
            high = bisect.bisect_right(stamps, end)
            if high - low + 1 > capacity:
                # Fits once the oldest stamp counted in the fullest window has left it.
                return max(stamps[high - capacity] + window - now, 0.0) or 0.001
        return 0.0

    def _token_wait(self, tokens: int, tpm: int, now: float) -> float:
        """Seconds until ``tokens`` more fit in the token window (caller holds the lock)."""
        used = sum(n for _, n in self._tokens)
        if used + tokens <= tpm:
            return 0.0
        if tokens > tpm:
            return _TOKEN_WINDOW
        for stamp, spent in self._tokens:
            used -= spent
            if used + tokens <= tpm:
                return stamp + _TOKEN_WINDOW - now
        return _TOKEN_WINDOW


def _request_window(rps: float) -> tuple[int, float]:
    """Return ``(capacity, window_seconds)`` giving an average rate of ``rps``."""
    capacity = max(math.floor(rps), 1)
    return capacity, capacity / rps


def format_seconds(seconds: float) -> str:
    """Format a wait for a ``Retry-After`` header: ``0.25``, ``2``, ``1.5``."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "0") else "0.001"
