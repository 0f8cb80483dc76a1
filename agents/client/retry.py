"""When to retry a failed model call, and how long to wait first."""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import openai

__all__ = ["RetryPolicy", "is_retryable", "retry_after"]

_RETRY_STATUS = {408, 409, 429}


def is_retryable(error: BaseException) -> bool:
    """True for failures that a later attempt may not see: 408/409/429/5xx, timeouts,
    dropped or cut connections and bodies that are not JSON."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _RETRY_STATUS or error.status_code >= 500
    return isinstance(
        error,
        openai.APIConnectionError  # includes APITimeoutError
        | openai.APIResponseValidationError
        | httpx.TransportError  # a stream cut after the response started
        | json.JSONDecodeError,
    )


def retry_after(error: BaseException, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms` or `Retry-After`), if any;
    an HTTP date counts from `now()`."""
    # An httpx or an httpx2 response: openai's own HTTP client is httpx2, a passed one httpx.
    headers = getattr(getattr(error, "response", None), "headers", None)
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # neither seconds nor an HTTP date: ignore the header
        return None
    return max(0.0, parsed.timestamp() - now())


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, honouring the server's Retry-After.

    Attributes:
        max_retries: Retries after the first attempt.
        base: First backoff ceiling in seconds; doubles each attempt.
        cap: Largest backoff ceiling.
        budget: Seconds a call may spend in total; no wait starts past it.
        rng: Source of jitter (seed it in tests).
    """

    max_retries: int = 6
    base: float = 0.5
    cap: float = 20.0
    budget: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: BaseException) -> float:
        """Seconds to wait before retry number `attempt` (1-based) after `error`."""
        asked = retry_after(error)
        if asked is not None:
            # The server knows when capacity returns; a little jitter spreads the herd.
            return asked + self.rng.uniform(0, min(0.25, asked * 0.1 + 0.01))
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)
