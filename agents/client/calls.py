"""How one model call goes: each attempt waits its turn, failures back off, fallbacks take over.

copydesk owns the retries (the SDK's own are off): 408/409/429/5xx, timeouts, dropped
connections and cut streams are retried with exponential backoff and full jitter, honouring
`Retry-After`, within a total time budget per call. Every attempt first waits its turn in the
shared rate limiter (`limiter.py`), and gives its permit's tokens back when the server billed
nothing (a 429, a refusal, a lesson); a circuit breaker per endpoint and model sends calls on
to the fallback models when one keeps failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import openai
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs

from copydesk.agents.client.failures import (
    CallTimeout,
    EmptyReply,
    Retries,
    cut_in,
    describe,
    lesson_in,
    translate,
)
from copydesk.agents.client.pacing import RateLimiter
from copydesk.agents.client.pool import LoopPool
from copydesk.agents.client.resilience import StreamWatch, announce_restart
from copydesk.agents.client.retry import is_retryable
from copydesk.agents.client.turns import Turns
from copydesk.agents.client.usage import estimate_usage, usage_of
from copydesk.agents.client.waiting import Priority
from copydesk.agents.errors import ModelRequestError, ModelUnavailableError
from copydesk.memory.tokens import token_counter, vocabulary_for_model, vocabulary_loaded

if TYPE_CHECKING:
    from copydesk.agents.client.chat import OpenAIClient

__all__ = ["CallPath", "Outcome"]

log = logging.getLogger("copydesk.client")


class Outcome(NamedTuple):
    """Which model answered a call, after how many attempts and seconds (of which `waited`
    in the rate limiter), and how many of the attempts were refused with a 429."""

    model: str
    attempts: int
    seconds: float
    rate_limited: int = 0
    waited: float = 0.0


class CallPath:
    """The way every call of `client` goes: its models in order, each until it answers.

    Args:
        client: Whose endpoint, models, limiters, breakers, capabilities and retry policy.
        pool: Its connection pools (their hooks serve the limiter of each attempt).
        sleep: Awaitable sleep between attempts, injectable for tests.
    """

    def __init__(
        self, client: OpenAIClient, pool: LoopPool, sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self._client = client
        self._pool = pool
        self._sleep = sleep
        self._turns = Turns()

    async def call(
        self,
        make: Callable[[str], Runnable[Any, Any]],
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        agent: str,
        priority: Priority,
        feature: str | None = None,
    ) -> tuple[AIMessage, Outcome]:
        """The model's reply, from the model or, when it keeps failing, its fallbacks.

        `feature` names the structured mode the request uses: a server that refuses it (or
        a prompt over its context, or an empty reply) raises a lesson for the caller
        (`FeatureRefused`, `ContextExceeded`, `EmptyReply`) instead of being retried as is.
        """
        client = self._client
        started = time.monotonic()
        failure: ModelUnavailableError | None = None
        models = client.models
        for model in models:
            last = model == models[-1]
            if not client.limiters.breaker(client.endpoint, model).enter() and not last:
                continue  # the last model is always tried: its retries may outlast an outage
            try:
                return await self._attempts(
                    model, make(model), messages, config, agent, priority, feature
                )
            except ModelUnavailableError as error:
                failure = error
                later = models[models.index(model) + 1 :]
                if later and time.monotonic() - started < client.retry.budget:
                    log.warning("%s; falling back to %s", error, later[0])
                    continue
                break
        raise failure or ModelUnavailableError(
            f"{client.endpoint}: every model ({', '.join(models)}) failed repeatedly and is "
            "paused for a while; the thread is saved, resume it later"
        )

    async def _attempts(
        self,
        model: str,
        runnable: Runnable[Any, Any],
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        agent: str,
        priority: Priority,
        feature: str | None,
    ) -> tuple[AIMessage, Outcome]:
        """Call one model until it answers, each attempt waiting its turn in the limiter."""
        client = self._client
        endpoint = client.endpoint
        started = time.monotonic()
        limiter = client.limiters.get(endpoint, model, client.key_id)
        breaker = client.limiters.breaker(endpoint, model)
        retries = Retries(
            subject=endpoint,
            endpoint=endpoint,
            model=model,
            limiter=limiter,
            breaker=breaker,
            retry=client.retry,
            sleep=self._sleep,
            give_up_when_open=model != client.models[-1],  # the next model takes over
            started=started,
        )
        prompt = await _prompt_estimate(model, messages, limiter.tpm)
        estimate = limiter.estimate(prompt) if limiter.tpm else 0
        watch = StreamWatch()
        watched = merge_configs(config, {"callbacks": [watch]})
        thread = str((config or {}).get("configurable", {}).get("thread_id", ""))
        attempt = rate_limited = 0
        waited = 0.0
        while True:
            attempt += 1
            asked = time.monotonic()
            permit = await limiter.acquire(estimate, priority=priority, thread=thread)
            waited += time.monotonic() - asked
            streamed = watch.tokens
            caps = client.capabilities.of(endpoint, model)
            turn = self._turns.turn(endpoint, model, one_at_a_time=caps.one_at_a_time)
            try:
                async with turn:
                    message = await self._invoke(limiter, runnable, messages, watched)
            except Exception as error:
                cut_short = turn.overlapped and cut_in(error) is not None
                if cut_short:
                    # Another of our calls arrived while this stream ran and the server ended
                    # it: it serves one at a time. Learned once; this call waits its turn.
                    client.capabilities.serves_one_at_a_time(endpoint, model)
                lesson = None if cut_short else lesson_in(error, feature)
                rate_limited += getattr(error, "status_code", None) == 429
                await retries.give_back(permit, error, unbilled=cut_short or lesson is not None)
                if cut_short:
                    if watch.tokens > streamed:
                        announce_restart(agent, attempt + 1, describe(error))
                    continue
                if lesson is not None:  # asking the same again would get the same answer
                    raise lesson from None
                if not is_retryable(error):
                    if isinstance(error, openai.APIError):
                        raise translate(error, endpoint, client.model, client.key_auth) from None
                    raise  # not the API's doing: a bug, keep its traceback
                restart = None
                if watch.tokens > streamed:  # listeners saw part of a reply: it starts over
                    restart = partial(announce_restart, agent, attempt + 1, describe(error))
                await retries.back_off(error, attempt, restart)
                continue
            if not isinstance(message, AIMessage):
                raise ModelRequestError(f"{endpoint} returned no chat message")
            breaker.success()
            if estimate_usage(message, messages, model):
                client.capabilities.no_usage(endpoint, model)
            await limiter.settle(permit, *usage_of(message))
            seconds = time.monotonic() - started
            return message, Outcome(model, attempt, seconds, rate_limited, waited)

    async def _invoke(
        self,
        limiter: RateLimiter,
        runnable: Runnable[Any, Any],
        messages: Sequence[BaseMessage],
        config: RunnableConfig,
    ) -> Any:
        """One attempt: the reply within the call's wall-clock bound, never an empty one."""
        timeout = self._client.call_timeout
        try:
            with self._pool.observing(limiter):
                async with asyncio.timeout(timeout) as bound:
                    reply = await runnable.ainvoke(list(messages), config)
        except TimeoutError as error:  # ours, or langchain-openai's wait for a stream chunk
            if bound.expired():
                raise CallTimeout(f"no complete reply within {timeout:.0f}s") from None
            raise CallTimeout(f"timed out waiting for the reply ({error})") from None
        except ValueError as error:  # langchain's words for a stream with no chunk at all
            if "No generations" in str(error):
                raise EmptyReply("the reply stream was empty") from None
            raise
        if isinstance(reply, AIMessage) and not (
            reply.text.strip() or reply.tool_calls or reply.invalid_tool_calls
        ):
            raise EmptyReply("the reply was empty")
        return reply


async def _prompt_estimate(model: str, messages: Sequence[BaseMessage], tpm: int | None) -> int:
    """Prompt tokens to reserve in a token budget of `tpm` (0 with none).

    A byte count bounds the tokens from above without the tokenizer; while it is a small
    share of the budget it is reserved as it is (the server's usage replaces it after the
    call). A larger prompt gets the tighter bound of `TokenCounter.messages_upper` (exact for
    prose), its vocabulary read off the event loop the first time.
    """
    if not tpm:
        return 0
    counter = token_counter(model)
    bound = counter.messages_bound(messages)
    if bound <= tpm // 100:
        return bound
    if not vocabulary_loaded(model):
        await asyncio.to_thread(vocabulary_for_model, model)
    return counter.messages_upper(messages)
