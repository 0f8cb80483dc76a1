"""Sliding-window request and token budget for the fake OpenAI server.

``RateBudget`` mimics a provider's rate limits: a requests-per-second limit
checked over a sliding window of about one second, and a tokens-per-minute
limit checked over a sliding 60-second window. Rejected requests are not
counted against either window, just as a real provider does not bill them.
"""

from __future__ import annotations

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
        self._requests: deque[float] = deque()
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

    def admit(self, tokens: int) -> float | None:
        """Try to spend one request and ``tokens`` tokens now.

        Args:
            tokens: Token cost of the request.

        Returns:
            ``None`` if admitted (and recorded), otherwise the number of seconds
            after which the same request would fit.
        """
        now = time.monotonic()
        with self._lock:
            if self._rps is None and self._tpm is None:
                return None
            self._prune(now)
            wait = 0.0
            if self._rps is not None:
                capacity, window = _request_window(self._rps)
                if len(self._requests) >= capacity:
                    wait = self._requests[len(self._requests) - capacity] + window - now
            if self._tpm is not None:
                wait = max(wait, self._token_wait(tokens, self._tpm, now))
            if wait > 0:
                return max(wait, 0.001)
            self._requests.append(now)
            self._tokens.append((now, tokens))
            return None

    def headers(self) -> dict[str, str]:
        """Return the ``x-ratelimit-*`` headers describing the current budget."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            if self._rps is None:
                limit_requests, left_requests = UNLIMITED_REQUESTS, UNLIMITED_REQUESTS
            else:
                limit_requests = _request_window(self._rps)[0]
                left_requests = max(limit_requests - len(self._requests), 0)
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
            while self._requests and self._requests[0] <= now - window:
                self._requests.popleft()
        else:
            self._requests.clear()
        while self._tokens and self._tokens[0][0] <= now - _TOKEN_WINDOW:
            self._tokens.popleft()

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
