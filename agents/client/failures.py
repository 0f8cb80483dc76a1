"""What a failed model call means: a lesson about the server, a retry, or one line for the user.

The call paths (`calls.py` for chat, `embeddings.py`) ask here what an error is. An empty
reply, a refused feature, a prompt over the context, or (for a typed reply) a cut stream is a
lesson: asking the same again would get the same answer. `Retries` is what follows a failed
attempt: its permit given back when the server billed none of it, then a wait before the next
attempt or the call given up. A failure that outlasted its retries is `exhausted`; one the API
gave for good is `translate`d into a `ModelError` whose one line names the key only by its
fingerprint (the server's own message may echo the key: it is scrubbed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import openai

from copydesk.agents.client.capabilities import refusal_of
from copydesk.agents.client.cuts import StreamCut
from copydesk.agents.client.keys import KeyAuth
from copydesk.agents.client.retry import RetryPolicy, is_retryable
from copydesk.agents.errors import (
    ModelAuthError,
    ModelError,
    ModelRequestError,
    ModelUnavailableError,
)

if TYPE_CHECKING:
    from copydesk.agents.client.breaker import CircuitBreaker
    from copydesk.agents.client.pacing import RateLimiter
    from copydesk.agents.client.waiting import Permit

__all__ = [
    "CallTimeout",
    "EmptyReply",
    "Retries",
    "cut_in",
    "describe",
    "exhausted",
    "lesson_in",
    "translate",
]

log = logging.getLogger("copydesk.client")


class EmptyReply(httpx.TransportError):
    """The server answered with an empty stream or an empty message."""


class CallTimeout(httpx.TimeoutException):
    """A whole call (every chunk of a stream) took longer than its wall-clock bound."""


def cut_in(error: BaseException) -> StreamCut | None:
    """The cut stream behind `error` (langchain-openai re-raises the wire's errors as its
    own, the original as their cause), if that is what it was."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None or isinstance(seen, StreamCut):
            return seen
        seen = seen.__cause__
    return None


def lesson_in(error: Exception, feature: str | None) -> Exception | None:
    """What `error` teaches about the server, when asking the same again is pointless:
    an empty reply, a refused feature, a prompt over the context, or (for a typed reply,
    which can be asked for whole instead) a cut stream, e.g. llama.cpp preempting it."""
    if isinstance(error, EmptyReply):
        return error
    cut = cut_in(error)
    if feature is not None and cut is not None:
        return cut
    return refusal_of(error, feature)


def describe(error: BaseException) -> str:
    """What went wrong, in a few words for a log line."""
    cut = cut_in(error)
    if cut is not None:
        return f"stream closed before the reply ended: {cut.missing}"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, openai.APITimeoutError | httpx.TimeoutException):
        return "timed out"
    if isinstance(error, openai.APIConnectionError | httpx.TransportError):
        return "connection failed or was cut"
    return f"invalid response ({type(error).__name__})"


def exhausted(
    endpoint: str, error: BaseException, attempts: int, model: str
) -> ModelUnavailableError:
    """The error of `model` at `endpoint` failing with `error` in each of `attempts`."""
    cut = cut_in(error)
    if cut is not None:
        return ModelUnavailableError(
            f"the server at {endpoint} ({model}) closed the stream before the reply "
            f"ended ({cut.missing}) in each of {attempts} attempt(s); no part of it was "
            "kept; the thread is saved, resume it when the server answers whole (llama.cpp "
            "ends a stream when another request arrives: send one at a time)"
        )
    if isinstance(error, openai.APIConnectionError) and not isinstance(
        error, openai.APITimeoutError
    ):
        what = f"cannot reach {endpoint} ({model})"
    else:
        what = f"{endpoint} ({model}) kept failing ({describe(error)})"
    return ModelUnavailableError(
        f"{what} after {attempts} attempt(s); the thread is saved, resume it when the "
        "server is back"
    )


def translate(error: Exception, endpoint: str, model: str, auth: KeyAuth) -> ModelError:
    """The one-line error of an API error that retrying cannot fix; the key it names is
    `auth`'s fingerprint, never the key."""
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        # The server's own message may echo part of the key: never pass it on.
        return ModelAuthError(
            f"{endpoint} rejected API key {auth.key_name} (HTTP {error.status_code}); "
            "set a valid OPENAI_API_KEY"
        )
    if isinstance(error, openai.NotFoundError):
        return ModelRequestError(
            f"{endpoint}: model {model!r} not found; set COPYDESK_MODEL to one it serves"
        )
    if isinstance(error, openai.APIStatusError):
        detail = auth.scrub(str(getattr(error, "message", "")))[:200]
        return ModelRequestError(
            f"{endpoint} refused the request (HTTP {error.status_code}): {detail}"
        )
    return ModelRequestError(f"{endpoint}: {type(error).__name__}: {auth.scrub(str(error))[:200]}")


@dataclass
class Retries:
    """What follows each failed attempt of one call to one model.

    Attributes:
        subject: What failed, as the log line names it (the endpoint, or its embeddings).
        endpoint: Where the call goes.
        model: The model it asks.
        limiter: The limiter whose permits the attempts hold.
        breaker: The circuit breaker of the endpoint and model.
        retry: How long to wait, how many times, within what total budget.
        sleep: Awaitable sleep between attempts.
        give_up_when_open: Give up once the breaker opens (another model can take over).
        started: When the call began (its budget counts from then).
    """

    subject: str
    endpoint: str
    model: str
    limiter: RateLimiter
    breaker: CircuitBreaker
    retry: RetryPolicy
    sleep: Callable[[float], Awaitable[None]]
    give_up_when_open: bool = True
    started: float = field(default_factory=time.monotonic)

    async def give_back(self, permit: Permit, error: Exception, *, unbilled: bool = False) -> None:
        """Give `permit`'s tokens back if the server billed none of the failed attempt: it
        refused it (429), the failure is for good, or the caller knows (`unbilled`)."""
        rate_limited = getattr(error, "status_code", None) == 429
        if unbilled or rate_limited or not is_retryable(error):
            await self.limiter.refund(permit)

    async def back_off(
        self, error: Exception, attempt: int, restart: Callable[[], None] | None = None
    ) -> None:
        """Wait before the attempt after `attempt`, which failed with retryable `error`.

        A 429 holds every call of the limiter, not just this one. `restart`, when given, is
        called before the budget is checked: the reply that was streaming is void either way.

        Raises:
            ModelUnavailableError: The breaker opened (and `give_up_when_open`), or no retry or
                no time is left.
        """
        wait = self.retry.delay(attempt, error)
        if getattr(error, "status_code", None) == 429:  # everyone waits, not just this call
            await self.limiter.refused(wait)
        elif (self.breaker.failure() or self.breaker.is_open) and self.give_up_when_open:
            raise exhausted(self.endpoint, error, attempt, self.model) from None
        if restart is not None:
            restart()
        elapsed = time.monotonic() - self.started
        if attempt > self.retry.max_retries or elapsed + wait > self.retry.budget:
            raise exhausted(self.endpoint, error, attempt, self.model) from None
        log.warning(
            "%s failed (%s); retry %d/%d in %.2fs",
            self.subject,
            describe(error),
            attempt,
            self.retry.max_retries,
            wait,
        )
        await self.sleep(wait)
