"""`OpenAIClient`: the single door to any OpenAI-compatible API, or to the offline model.

Built on langchain-openai's `ChatOpenAI`, so LangGraph streams its tokens and LangSmith traces
its calls. copydesk owns the retries (the SDK's own are off): 408/409/429/5xx, timeouts,
dropped connections and cut streams are retried with exponential backoff and full jitter,
honouring `Retry-After`, within a total time budget per call. Every attempt first waits its
turn in the shared rate limiter (`copydesk.agents.client.limiter`); a circuit breaker per endpoint
and model
sends calls on to the fallback models when one keeps failing.

One client serves every agent and thread of a process. `ChatOpenAI` binds its HTTP connection
pool to the event loop that first used it, so a second `asyncio.run` in the same process fails
with "Event loop is closed"; the client therefore keeps one `ChatOpenAI` per live event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr, ValidationError

from copydesk.agents.client.capabilities import (
    CapabilityBook,
    ContextExceeded,
    FeatureRefused,
    StructuredMode,
    refusal_of,
)
from copydesk.agents.client.keys import KeyAuth
from copydesk.agents.client.limiter import LimiterRegistry, Priority, RateLimiter
from copydesk.agents.client.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from copydesk.agents.client.prices import PriceTable
from copydesk.agents.client.resilience import StreamWatch, announce_restart
from copydesk.agents.client.retry import RetryPolicy, is_retryable
from copydesk.agents.client.shaping import alternate, fit_to_context, output_params
from copydesk.agents.client.turns import Turns
from copydesk.agents.client.typed import (
    ask_for_json,
    bind_typed,
    cut_at_cap,
    json_text,
    problem_of,
    typed_cap,
    typed_tool,
    was_cut,
)
from copydesk.agents.client.usage import (
    ESTIMATED,
    CallRecord,
    UsageLedger,
    estimate_usage,
    usage_of,
)
from copydesk.agents.client.wire import ChatCompletionsWire, NoSyncCalls, StreamCut
from copydesk.agents.config import ConfigManager
from copydesk.agents.errors import (
    ModelAuthError,
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelUnavailableError,
    fingerprint,
)
from copydesk.agents.settings import Settings
from copydesk.agents.state import UsageTotals
from copydesk.memory.tokens import token_counter, vocabulary_for_model, vocabulary_loaded

__all__ = ["STRUCTURED_TAG", "OpenAIClient", "Reply", "Structured"]

log = logging.getLogger("copydesk.client")
T = TypeVar("T", bound=BaseModel)
STRUCTURED_TAG = "copydesk:structured"
"""Tag on calls whose tokens are JSON for a typed reply (a UI may hide them)."""
DEFAULT_ENDPOINT = "https://api.openai.com/v1"


class EmptyReply(httpx.TransportError):
    """The server answered with an empty stream or an empty message."""


class CallTimeout(httpx.TimeoutException):
    """A whole call (every chunk of a stream) took longer than its wall-clock bound."""


class _Outcome(NamedTuple):
    model: str
    attempts: int
    seconds: float


@dataclass(frozen=True)
class Reply:
    """A model's reply and the tokens it cost."""

    message: AIMessage
    usage: UsageTotals

    @property
    def text(self) -> str:
        """The reply's text."""
        return self.message.text


@dataclass(frozen=True)
class Structured(Generic[T]):
    """A typed reply, and the tokens it cost including any repair attempts."""

    value: T
    message: AIMessage
    usage: UsageTotals


class OpenAIClient:
    """Async client for chat completions with retries, usage accounting and an offline mode.

    Args:
        model: Model name sent to the API.
        api_key: API key; never printed, logged or stored.
        base_url: OpenAI-compatible endpoint; OpenAI's when None.
        offline: Force the offline model. By default the client is offline when it has
            neither a key nor a base URL.
        timeout: Seconds per HTTP request.
        retry: Backoff policy.
        structured_output: Where typed replies start: `json_schema` (response_format),
            `function_calling` (a forced tool) or `json_prompt` (JSON asked for in the
            prompt); a server that refuses one falls back to the next (`capabilities`).
        max_repairs: Extra attempts when a typed reply does not validate.
        sleep: Awaitable sleep, injectable for tests.
        chat_model: Serve this LangChain chat model instead of ChatOpenAI or the offline model
            (any provider's chat model, or a scripted one in tests). Retries, repair and
            usage accounting still apply.
        limiters: The rate limiters and circuit breakers to share (clients given the same
            registry share one budget per endpoint, model and key); a new one when None.
        fallback_models: Models tried in order when `model` keeps failing.
        max_connections: Size of the HTTP connection pool.
        prices: Prices per model for the cost of each call.
        usage_log: Append one JSON line per call here (what `copydesk usage` reads).
        max_output_tokens: Output cap of a call whose prompt sets no `max_tokens`.
        call_timeout: Seconds one whole call (a stream from first to last chunk) may take.
        context_tokens: The model's context, if known; prompts are trimmed to fit it.
        capabilities: What each server can do, as learned (a new book when None).
        config: Where each request asks for the key (`ConfigManager.secret`: a rotated
            `OPENAI_API_KEY_FILE` is re-read, every use is audited); `api_key` is the key of
            every request when None.
    """

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        api_key: SecretStr | None = None,
        base_url: str | None = None,
        offline: bool | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        structured_output: StructuredMode = "json_schema",
        max_repairs: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        chat_model: BaseChatModel | None = None,
        limiters: LimiterRegistry | None = None,
        fallback_models: Sequence[str] = (),
        max_connections: int = 100,
        prices: PriceTable | None = None,
        usage_log: Path | None = None,
        max_output_tokens: int | None = 1024,
        call_timeout: float = 300.0,
        context_tokens: int | None = None,
        capabilities: CapabilityBook | None = None,
        config: ConfigManager | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.offline = (
            offline
            if offline is not None
            else (chat_model is None and api_key is None and base_url is None)
        )
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.structured_output = structured_output
        self.max_repairs = max_repairs
        self.ledger = UsageLedger(path=usage_log)
        self.limiters = limiters or LimiterRegistry()
        self.fallback_models = tuple(m for m in fallback_models if m and m != model)
        self.max_connections = max_connections
        self.prices = prices or PriceTable()
        self.max_output_tokens = max_output_tokens
        self.call_timeout = call_timeout
        self.capabilities = capabilities or CapabilityBook(structured_output, context_tokens)
        self._api_key = api_key
        self._auth = KeyAuth(api_key, config=config)
        self._sleep = sleep
        self._fixed_model = chat_model
        self._tools: dict[type[BaseModel], dict[str, Any]] = {}
        self._turns = Turns()
        self._offline_model = OfflineChatModel(tokenizer_model=model)
        self._per_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[dict[str, ChatOpenAI], httpx.AsyncClient]
        ] = weakref.WeakKeyDictionary()
        secret = api_key.get_secret_value() if api_key is not None else ""
        self._key_id = fingerprint(secret) if secret else "(none)"
        # The limiter of the call in progress, for the response hook (per asyncio task).
        self._limiter_now: ContextVar[RateLimiter | None] = ContextVar(
            f"copydesk-limiter-{id(self)}", default=None
        )

    @classmethod
    def from_settings(cls, settings: Settings, config: ConfigManager | None = None) -> OpenAIClient:
        """A client configured from settings, asking `config` (a manager of these settings
        when None) for the key on every request."""
        key = settings.openai_api_key
        return cls(
            model=settings.model,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            offline=settings.is_offline,
            timeout=settings.request_timeout,
            retry=RetryPolicy(max_retries=settings.max_retries, budget=settings.retry_budget),
            structured_output=settings.structured_output,
            limiters=LimiterRegistry(
                rpm=settings.rpm, tpm=settings.tpm, redis_url=settings.redis_url
            ),
            fallback_models=[m.strip() for m in settings.fallback_models.split(",")],
            max_connections=settings.max_connections,
            prices=PriceTable.load(settings.prices),
            usage_log=settings.home / "usage.jsonl",
            max_output_tokens=settings.max_output_tokens or None,
            call_timeout=settings.call_timeout,
            context_tokens=settings.context_tokens,
            config=(config or ConfigManager.of(settings)) if key is not None else None,
        )

    @property
    def endpoint(self) -> str:
        """Where calls go: the base URL, OpenAI's, `offline`, or the injected chat model."""
        if self._fixed_model is not None:
            return f"chat model {type(self._fixed_model).__name__}"
        return "offline" if self.offline else (self.base_url or DEFAULT_ENDPOINT)

    @property
    def key_id(self) -> str:
        """The key's fingerprint (limiter budgets are per endpoint, model and key)."""
        return self._key_id

    @property
    def model_label(self) -> str:
        """The model that actually answers."""
        if self._fixed_model is not None:
            return str(getattr(self._fixed_model, "model_name", None) or self.model)
        return OFFLINE_MODEL_NAME if self.offline else self.model

    @property
    def models(self) -> tuple[str, ...]:
        """The model, then its fallbacks, in the order they are tried."""
        if self._fixed_model is not None or self.offline:
            return (self.model,)
        return (self.model, *self.fallback_models)

    def chat_model(self, model: str | None = None) -> BaseChatModel:
        """The chat model for the running event loop (created on first use in that loop)."""
        if self._fixed_model is not None:
            return self._fixed_model
        if self.offline:
            return self._offline_model
        known = self._loop_state()
        name = model or self.model
        chat = known[0].get(name)
        if chat is None:
            chat = known[0][name] = ChatOpenAI(
                model=name,
                # Unused: the pool's KeyAuth signs each request with the key of that moment.
                api_key=SecretStr("set-per-request"),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,  # retries are ours, so each one is counted and paced
                stream_chunk_timeout=self.timeout,  # a chunk gap is bounded like any read
                stream_usage=True,
                http_async_client=known[1],
                # The request and its chunks as plain JSON (wire.py says why: the SDK's
                # per-request and per-chunk model walks were most of copydesk's CPU per call).
                async_client=ChatCompletionsWire(known[1], self.base_url or DEFAULT_ENDPOINT),
                client=NoSyncCalls(),
            )
        return chat

    def _loop_state(self) -> tuple[dict[str, ChatOpenAI], httpx.AsyncClient]:
        loop = asyncio.get_running_loop()
        known = self._per_loop.get(loop)
        if known is None:
            # A pool much larger than the concurrency made throughput worse: size it to fit.
            limits = httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            )
            hooks: dict[str, list[Callable[..., Any]]] = {
                "request": [self._on_request],
                "response": [self._on_response],
            }
            http = httpx.AsyncClient(
                timeout=self.timeout,
                limits=limits,
                auth=self._auth,  # every request asks for the key of its moment
                event_hooks=hooks,  # after the auth: the send time is the request's own
            )
            known = self._per_loop[loop] = ({}, http)
        return known

    @property
    def key_auth(self) -> httpx.Auth:
        """How requests are signed: the key of each request's moment, each use audited (for
        a synchronous request outside the pool, e.g. the embeddings probe)."""
        return self._auth

    def http_client(self) -> httpx.AsyncClient:
        """The connection pool of the running event loop (made on first use), shared by chat
        and embeddings; responses feed the limiter set with `observing`."""
        return self._loop_state()[1]

    @contextmanager
    def observing(self, limiter: RateLimiter) -> Iterator[None]:
        """Let `limiter` learn from the `x-ratelimit-*` headers of responses in this block."""
        current = self._limiter_now.set(limiter)
        try:
            yield
        finally:
            self._limiter_now.reset(current)

    async def _on_request(self, request: httpx.Request) -> None:
        """Hold the request while the limiter of the call in progress has sent a second's
        worth of requests in less than a second (the send came later than its slot)."""
        limiter = self._limiter_now.get()
        if limiter is not None:
            await limiter.sending()

    async def _on_response(self, response: httpx.Response) -> None:
        """Let the limiter of the call in progress adapt to the `x-ratelimit-*` headers."""
        limiter = self._limiter_now.get()
        if limiter is not None:
            await limiter.observe(response.headers)

    async def aclose(self) -> None:
        """Close the HTTP (and Redis) connections opened in the running event loop."""
        known = self._per_loop.pop(asyncio.get_running_loop(), None)
        if known is not None:
            await known[1].aclose()
        await self.limiters.aclose()

    async def __aenter__(self) -> OpenAIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        config: RunnableConfig | None = None,
        agent: str = "agent",
        params: Mapping[str, Any] | None = None,
        priority: Priority = Priority.DRAFT,
    ) -> Reply:
        """One chat completion (streamed when a LangGraph stream is listening).

        Args:
            messages: The conversation to answer.
            config: The LangGraph config (thread id, callbacks).
            agent: Who is calling, for usage accounting.
            params: Model parameters for this call (temperature, max_tokens, ...), usually a
                prompt version's.

        Raises:
            ModelError: The call failed for good; the message says why and what to do.
        """
        stream = True
        for _ in range(4):  # a lesson (empty stream, context) at most three times
            sent = self._capped(output_params(params, self.max_output_tokens,
                                              openai_endpoint=self._is_openai))  # fmt: skip
            try:
                message, outcome = await self._call(
                    partial(self._plain, params=sent, stream=stream),
                    self._shaped(messages, sent),
                    config,
                    agent,
                    priority,
                )
                break
            except EmptyReply:
                stream = False  # the whole answer at once says what went wrong, if anything
            except ContextExceeded as exceeded:
                self._learn_context(exceeded)
        else:
            raise ModelRequestError(
                f"{self.endpoint} ({self.model}) sent no usable reply (empty, or the prompt "
                "does not fit its context); set COPYDESK_CONTEXT_TOKENS or use a larger model"
            )
        return Reply(message, await self._account(message, config, agent, outcome))

    async def structured(
        self,
        messages: Sequence[BaseMessage],
        schema: type[T],
        *,
        config: RunnableConfig | None = None,
        agent: str = "agent",
        params: Mapping[str, Any] | None = None,
        priority: Priority = Priority.VERDICT,
    ) -> Structured[T]:
        """A reply validated as `schema`, repaired up to `max_repairs` times.

        `params` are model parameters for every attempt, as in `complete`. A server that
        refuses the structured mode moves this endpoint to the next one (said once); a reply
        cut at the output cap is asked for again with twice the cap.

        Raises:
            ModelOutputError: No valid reply after the repair attempts.
            ModelError: A call failed for good.
        """
        tagged: RunnableConfig = {
            **(config or {}),
            "tags": [*(config or {}).get("tags", []), STRUCTURED_TAG],
        }
        conversation = list(messages)
        total = UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        problem = ""
        cap = int((params or {}).get("max_tokens") or 0) or typed_cap(self.max_output_tokens)
        repairs = lessons = 0
        while repairs <= self.max_repairs:
            caps = self.capabilities.of(self.endpoint, self.model)
            mode, tool = caps.structured, self._tool(schema)
            sent = self._capped(output_params({**(params or {}), "max_tokens": cap} if cap
                                              else params, None,
                                              openai_endpoint=self._is_openai))  # fmt: skip
            asked = ask_for_json(conversation, tool) if mode == "json_prompt" else conversation
            try:
                message, outcome = await self._call(
                    partial(
                        self._typed, schema, mode=mode, params=sent, stream=caps.stream_structured
                    ),
                    self._shaped(asked, sent),
                    tagged,
                    agent,
                    priority,
                    feature=mode,
                )
            except (FeatureRefused, EmptyReply, ContextExceeded, StreamCut) as lesson:
                lessons += 1
                if lessons > 4:
                    raise ModelRequestError(
                        f"{self.endpoint} ({self.model}) cannot give a typed reply: {lesson}"
                    ) from None
                self._learn(lesson, mode, caps.stream_structured)
                continue
            usage = await self._account(message, config, agent, outcome)
            for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
                total[key] += usage[key]
            if usage.get("estimated_calls"):
                total["estimated_calls"] = total.get("estimated_calls", 0) + 1
            raw = json_text(message)
            if was_cut(message) and cap:
                # Never a typed reply, even when what came validates (langchain closes a cut
                # tool call's JSON): the same cap would cut the repair at the same place.
                problem = cut_at_cap(cap)
                repairs += 1
                log.info("%s: %s reply %s; asking again", agent, schema.__name__, problem)
                cap *= 2
                continue
            try:
                return Structured(schema.model_validate_json(raw), message, total)
            except ValidationError as error:
                problem = problem_of(error, message, cap)
                repairs += 1
                log.info("%s: invalid %s reply (%s); asking again", agent, schema.__name__, problem)
                conversation += [
                    AIMessage(raw),
                    HumanMessage(
                        f"That reply is not a valid {schema.__name__} object: {problem}. "
                        "Reply again with only the JSON object the schema describes."
                    ),
                ]
        raise ModelOutputError(
            f"{agent}: the model's reply was not a valid {schema.__name__} after "
            f"{self.max_repairs + 1} attempts ({problem}); try another model or resume later"
        )

    @property
    def _is_openai(self) -> bool:
        return self.base_url is None or "api.openai.com" in self.base_url

    def _learn(self, lesson: Exception, mode: StructuredMode, streamed: bool) -> None:
        """Remember what a refused, empty or overlong typed call taught about the server."""
        if isinstance(lesson, FeatureRefused):
            if self.capabilities.refused(self.endpoint, self.model, mode, lesson.detail) is None:
                raise ModelRequestError(
                    f"{self.endpoint} ({self.model}) refused every way of asking for a typed "
                    f"reply ({lesson.detail[:160]}); use a server or model that follows JSON"
                ) from None
        elif isinstance(lesson, ContextExceeded):
            self._learn_context(lesson)
        elif streamed:
            self.capabilities.broken_stream(self.endpoint, self.model)

    def _learn_context(self, exceeded: ContextExceeded) -> None:
        self.capabilities.context_is(self.endpoint, self.model, exceeded.limit, exceeded.detail)

    def _capped(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with an output cap of at most half the model's context, when known."""
        limit = self.capabilities.of(self.endpoint, self.model).context_tokens
        if limit is None or self.offline:
            return params
        most = max(64, limit // 2)
        if params.get("max_tokens", 0) > most:
            return {**params, "max_tokens": most}
        body = params.get("extra_body", {})
        if body.get("max_tokens", 0) > most:
            return {**params, "extra_body": {**body, "max_tokens": most}}
        return params

    def _shaped(
        self, messages: Sequence[BaseMessage], params: Mapping[str, Any]
    ) -> list[BaseMessage]:
        """`messages` alternating (for a server's chat template), and trimmed to the model's
        context when it is known."""
        if self.offline or self._fixed_model is not None:
            return list(messages)
        shaped = alternate(messages)
        limit = self.capabilities.of(self.endpoint, self.model).context_tokens
        if limit is None:
            return shaped
        cap = params.get("max_tokens") or params.get("extra_body", {}).get("max_tokens") or 256
        return fit_to_context(shaped, limit, token_counter(self.model), int(cap) + 64)

    def _plain(
        self, model: str, params: Mapping[str, Any], *, stream: bool = True
    ) -> Runnable[Any, Any]:
        runnable = _with_params(self.chat_model(model), params)
        return runnable if stream else runnable.bind(stream=False)

    def _tool(self, schema: type[BaseModel]) -> dict[str, Any]:
        tool = self._tools.get(schema)
        if tool is None:  # building a JSON schema costs ~1.5 ms: once per schema, not per call
            tool = self._tools[schema] = typed_tool(schema, bounded=not self._is_openai)
        return tool

    def _typed(
        self,
        schema: type[BaseModel],
        model: str,
        *,
        mode: StructuredMode,
        params: Mapping[str, Any],
        stream: bool = True,
    ) -> Runnable[Any, Any]:
        return bind_typed(self.chat_model(model), mode, self._tool(schema), params, stream=stream)

    async def _call(
        self,
        make: Callable[[str], Runnable[Any, Any]],
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        agent: str,
        priority: Priority,
        feature: str | None = None,
    ) -> tuple[AIMessage, _Outcome]:
        """The model's reply, from the model or, when it keeps failing, its fallbacks.

        `feature` names the structured mode the request uses: a server that refuses it (or
        a prompt over its context, or an empty reply) raises a lesson for the caller
        (`FeatureRefused`, `ContextExceeded`, `EmptyReply`) instead of being retried as is.
        """
        started = time.monotonic()
        failure: ModelUnavailableError | None = None
        for model in self.models:
            last = model == self.models[-1]
            if self.limiters.breaker(self.endpoint, model).is_open and not last:
                continue  # the last model is always tried: its retries may outlast an outage
            try:
                return await self._attempts(
                    model, make(model), messages, config, agent, priority, feature
                )
            except ModelUnavailableError as error:
                failure = error
                later = self.models[self.models.index(model) + 1 :]
                if later and time.monotonic() - started < self.retry.budget:
                    log.warning("%s; falling back to %s", error, later[0])
                    continue
                break
        raise failure or ModelUnavailableError(
            f"{self.endpoint}: every model ({', '.join(self.models)}) failed repeatedly and is "
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
        feature: str | None = None,
    ) -> tuple[AIMessage, _Outcome]:
        """Call one model until it answers, each attempt waiting its turn in the limiter."""
        started = time.monotonic()
        limiter = self.limiters.get(self.endpoint, model, self._key_id)
        breaker = self.limiters.breaker(self.endpoint, model)
        can_fall_back = model != self.models[-1]
        prompt = await _prompt_estimate(model, messages, limiter.tpm)
        estimate = limiter.estimate(prompt) if limiter.tpm else 0
        watch = StreamWatch()
        watched = merge_configs(config, {"callbacks": [watch]})
        thread = str((config or {}).get("configurable", {}).get("thread_id", ""))
        attempt = 0
        while True:
            attempt += 1
            permit = await limiter.acquire(estimate, priority=priority, thread=thread)
            streamed = watch.tokens
            caps = self.capabilities.of(self.endpoint, model)
            turn = self._turns.turn(self.endpoint, model, one_at_a_time=caps.one_at_a_time)
            try:
                async with turn:
                    message = await self._invoke(limiter, runnable, messages, watched)
            except Exception as error:
                if turn.overlapped and _cut_in(error) is not None:
                    # Another of our calls arrived while this stream ran and the server ended
                    # it: it serves one at a time. Learned once; this call waits its turn.
                    self.capabilities.serves_one_at_a_time(self.endpoint, model)
                    await limiter.refund(permit)
                    if watch.tokens > streamed:
                        announce_restart(agent, attempt + 1, self._describe(error))
                    continue
                lesson = self._lesson_in(error, feature)
                if lesson is not None:  # asking the same again would get the same answer
                    await limiter.refund(permit)
                    raise lesson from None
                if not is_retryable(error):
                    await limiter.refund(permit)
                    if isinstance(error, openai.APIError):
                        raise self._translate(error) from None
                    raise  # not the API's doing: a bug, keep its traceback
                wait = self.retry.delay(attempt, error)
                rate_limited = getattr(error, "status_code", None) == 429
                if rate_limited:  # not billed; everyone waits, not just this call
                    await limiter.refund(permit)
                    await limiter.refused(wait)
                elif (breaker.failure() or breaker.is_open) and can_fall_back:
                    raise self._exhausted(error, attempt, model) from None  # move on
                if watch.tokens > streamed:  # listeners saw part of a reply: it starts over
                    announce_restart(agent, attempt + 1, self._describe(error))
                elapsed = time.monotonic() - started
                if attempt > self.retry.max_retries or elapsed + wait > self.retry.budget:
                    raise self._exhausted(error, attempt, model) from None
                log.warning(
                    "%s failed (%s); retry %d/%d in %.2fs",
                    self.endpoint,
                    self._describe(error),
                    attempt,
                    self.retry.max_retries,
                    wait,
                )
                await self._sleep(wait)
                continue
            if not isinstance(message, AIMessage):
                raise ModelRequestError(f"{self.endpoint} returned no chat message")
            breaker.success()
            if estimate_usage(message, messages, model):
                self.capabilities.no_usage(self.endpoint, model)
            await limiter.settle(permit, *usage_of(message))
            return message, _Outcome(model, attempt, time.monotonic() - started)

    @staticmethod
    def _lesson_in(error: Exception, feature: str | None) -> Exception | None:
        """What `error` teaches about the server, when asking the same again is pointless:
        an empty reply, a refused feature, a prompt over the context, or (for a typed reply,
        which can be asked for whole instead) a cut stream, e.g. llama.cpp preempting it."""
        if isinstance(error, EmptyReply):
            return error
        cut = _cut_in(error)
        if feature is not None and cut is not None:
            return cut
        return refusal_of(error, feature)

    async def _invoke(
        self,
        limiter: RateLimiter,
        runnable: Runnable[Any, Any],
        messages: Sequence[BaseMessage],
        config: RunnableConfig,
    ) -> Any:
        try:
            with self.observing(limiter):
                async with asyncio.timeout(self.call_timeout) as bound:
                    reply = await runnable.ainvoke(list(messages), config)
        except TimeoutError as error:  # ours, or langchain-openai's wait for a stream chunk
            if bound.expired():
                raise CallTimeout(f"no complete reply within {self.call_timeout:.0f}s") from None
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

    async def _account(
        self,
        message: AIMessage,
        config: RunnableConfig | None,
        agent: str,
        outcome: _Outcome,
    ) -> UsageTotals:
        prompt, completion = usage_of(message)
        thread_id = str((config or {}).get("configurable", {}).get("thread_id", ""))
        model = (
            outcome.model if self._fixed_model is None and not self.offline else self.model_label
        )
        cost = self.prices.cost(model, prompt, completion)
        estimated = bool(message.response_metadata.get(ESTIMATED))
        await self.ledger.arecord(
            CallRecord(
                thread_id,
                agent,
                model,
                prompt,
                completion,
                outcome.seconds,
                outcome.attempts,
                cost,
                estimated,
            )
        )
        totals = UsageTotals(
            calls=1, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost
        )
        if estimated:
            totals["estimated_calls"] = 1
        return totals

    def _scrub(self, text: str) -> str:
        """`text` with the API key (the first, and the latest sent) replaced by its
        fingerprint."""
        for key in {self._api_key, self._auth.current}:
            secret = key.get_secret_value() if key is not None else ""
            if secret:
                text = text.replace(secret, fingerprint(secret))
        return text

    def _describe(self, error: BaseException) -> str:
        cut = _cut_in(error)
        if cut is not None:
            return f"stream closed before the reply ended: {cut.missing}"
        if isinstance(error, openai.APIStatusError):
            return f"HTTP {error.status_code}"
        if isinstance(error, openai.APITimeoutError | httpx.TimeoutException):
            return "timed out"
        if isinstance(error, openai.APIConnectionError | httpx.TransportError):
            return "connection failed or was cut"
        return f"invalid response ({type(error).__name__})"

    def _translate(self, error: Exception) -> ModelError:
        key = self._auth.current or self._api_key
        key_name = fingerprint(key.get_secret_value()) if key else "(none)"
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            # The server's own message may echo part of the key: never pass it on.
            return ModelAuthError(
                f"{self.endpoint} rejected API key {key_name} (HTTP {error.status_code}); "
                "set a valid OPENAI_API_KEY"
            )
        if isinstance(error, openai.NotFoundError):
            return ModelRequestError(
                f"{self.endpoint}: model {self.model!r} not found; "
                "set COPYDESK_MODEL to one it serves"
            )
        if isinstance(error, openai.APIStatusError):
            detail = self._scrub(str(getattr(error, "message", "")))[:200]
            return ModelRequestError(
                f"{self.endpoint} refused the request (HTTP {error.status_code}): {detail}"
            )
        return ModelRequestError(
            f"{self.endpoint}: {type(error).__name__}: {self._scrub(str(error))[:200]}"
        )

    def _exhausted(self, error: BaseException, attempts: int, model: str) -> ModelUnavailableError:
        cut = _cut_in(error)
        if cut is not None:
            return ModelUnavailableError(
                f"the server at {self.endpoint} ({model}) closed the stream before the reply "
                f"ended ({cut.missing}) in each of {attempts} attempt(s); no part of it was "
                "kept; the thread is saved, resume it when the server answers whole (llama.cpp "
                "ends a stream when another request arrives: send one at a time)"
            )
        if isinstance(error, openai.APIConnectionError) and not isinstance(
            error, openai.APITimeoutError
        ):
            what = f"cannot reach {self.endpoint} ({model})"
        else:
            what = f"{self.endpoint} ({model}) kept failing ({self._describe(error)})"
        return ModelUnavailableError(
            f"{what} after {attempts} attempt(s); the thread is saved, resume it when the "
            "server is back"
        )


def _cut_in(error: BaseException) -> StreamCut | None:
    """The cut stream behind `error` (langchain-openai re-raises the wire's errors as its
    own, the original as their cause), if that is what it was."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None or isinstance(seen, StreamCut):
            return seen
        seen = seen.__cause__
    return None


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


def _with_params(
    runnable: Runnable[Any, Any], params: Mapping[str, Any] | None
) -> Runnable[Any, Any]:
    """`runnable` with model parameters bound (itself when there are none)."""
    return runnable.bind(**params) if params else runnable
