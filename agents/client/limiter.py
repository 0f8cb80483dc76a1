"""The limiters every model call waits on, one per (endpoint, model, key), and their breakers.

A `LimiterRegistry` belongs to the client, so every chatbot, thread and parallel branch that
shares the client shares the budget; with `redis_url`, so does every process sharing that
Redis. The limiter itself is `RateLimiter` (`pacing.py`); who goes next among waiting calls is
`waiting.py`'s, what the server's headers say `headers.py`'s. Their names are importable
from here too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from copydesk.agents.client.breaker import CircuitBreaker
from copydesk.agents.client.headers import parse_reset
from copydesk.agents.client.pacing import LATE_CAP, RateLimiter
from copydesk.agents.client.waiting import Permit, Priority
from copydesk.agents.client.windows import Windows

__all__ = ["LATE_CAP", "LimiterRegistry", "Permit", "Priority", "RateLimiter", "parse_reset"]


@dataclass
class LimiterRegistry:
    """The limiters of one process (or, with Redis, of every process sharing `redis_url`).

    Attributes:
        rpm: Requests per minute for every limiter (None: learn from the headers).
        tpm: Tokens per minute (None: learn from the headers).
        redis_url: Share each budget with every process using this Redis.
        prefix: Key prefix in Redis.
        safety: Share of the request limit used (the rest absorbs jitter).
        clock: Monotonic seconds of the breakers (injectable for tests).
    """

    rpm: float | None = None
    tpm: int | None = None
    redis_url: str | None = None
    prefix: str = "copydesk:limit"
    safety: float = 0.97
    clock: Callable[[], float] = time.monotonic
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
                known = self._breakers[(endpoint, model)] = CircuitBreaker(
                    f"{model} at {endpoint}", clock=self.clock
                )
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
