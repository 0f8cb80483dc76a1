"""`OpenAIClient`: the single door to any OpenAI-compatible API, or to the offline model.

Built on langchain-openai's `ChatOpenAI`, so LangGraph streams its tokens and LangSmith traces
its calls. copydesk owns the retries (the SDK's own are off): 408/409/429/5xx, timeouts,
dropped connections and cut streams are retried with exponential backoff and full jitter,
honouring `Retry-After`, within a total time budget per call. Every attempt first waits its
turn in the shared rate limiter (`agents.client.limiter`); a circuit breaker per endpoint and model
sends calls on to the fallback models when one keeps failing.

One client serves every agent and thread of a process. `ChatOpenAI` binds its HTTP connection
pool to the event loop that first used it, so a second `asyncio.run` in the same process fails
with "Event loop is closed"; the client therefore keeps one `ChatOpenAI` per live event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr, ValidationError

from agents.client.limiter import LimiterRegistry, Priority, RateLimiter
from agents.client.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from agents.client.prices import PriceTable
from agents.client.resilience import StreamWatch, announce_restart
from agents.client.retry import RetryPolicy, is_retryable
from agents.client.usage import CallRecord, UsageLedger, usage_of
from agents.client.wire import ChatCompletionsWire, NoSyncCalls
from agents.config import Settings
from agents.errors import (
    ModelAuthError,
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelUnavailableError,
    fingerprint,
)
from agents.state import UsageTotals
from memory.tokens import encoding_for_model, encoding_loaded, token_counter

__all__ = ["STRUCTURED_TAG", "OpenAIClient", "Reply", "Structured"]

log = logging.getLogger("copydesk.client")
T = TypeVar("T", bound=BaseModel)
STRUCTURED_TAG = "copydesk:structured"
"""Tag on calls whose tokens are JSON for a typed reply (a UI may hide them)."""
DEFAULT_ENDPOINT = "https://api.openai.com/v1"


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
        structured_output: `json_schema` (response_format) or `function_calling` (a forced tool).
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
        structured_output: Literal["json_schema", "function_calling"] = "json_schema",
        max_repairs: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        chat_model: BaseChatModel | None = None,
        limiters: LimiterRegistry | None = None,
        fallback_models: Sequence[str] = (),
        max_connections: int = 100,
        prices: PriceTable | None = None,
        usage_log: Path | None = None,
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
        self._api_key = api_key
        self._sleep = sleep
        self._fixed_model = chat_model
        self._tools: dict[type[BaseModel], dict[str, Any]] = {}
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
    def from_settings(cls, settings: Settings) -> OpenAIClient:
        """A client configured from settings."""
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
            key = self._api_key or SecretStr("not-needed")  # local servers ignore it
            chat = known[0][name] = ChatOpenAI(
                model=name,
                api_key=key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,  # retries are ours, so each one is counted and paced
                stream_usage=True,
                http_async_client=known[1],
                # The request and its chunks as plain JSON (wire.py says why: the SDK's
                # per-request and per-chunk model walks were most of copydesk's CPU per call).
                async_client=ChatCompletionsWire(
                    known[1], self.base_url or DEFAULT_ENDPOINT, key.get_secret_value()
                ),
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
            http = httpx.AsyncClient(
                timeout=self.timeout, limits=limits, event_hooks={"response": [self._on_response]}
            )
            known = self._per_loop[loop] = ({}, http)
        return known

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
        message, outcome = await self._call(
            lambda model: _with_params(self.chat_model(model), params),
            messages,
            config,
            agent,
            priority,
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

        `params` are model parameters for every attempt, as in `complete`.

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
        for _ in range(self.max_repairs + 1):
            message, outcome = await self._call(
                lambda model: _with_params(self._bind_schema(schema, model), params),
                conversation,
                tagged,
                agent,
                priority,
            )
            usage = await self._account(message, config, agent, outcome)
            for key in total:
                total[key] += usage[key]  # type: ignore[literal-required]
            raw = _json_of(message)
            try:
                return Structured(schema.model_validate_json(raw), message, total)
            except ValidationError as error:
                problem = _short(error)
                log.info(
                    "%s: invalid %s reply (%s); asking for a repair",
                    agent,
                    schema.__name__,
                    problem,
                )
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

    def _bind_schema(self, schema: type[BaseModel], model: str | None = None) -> Runnable[Any, Any]:
        tool = self._tools.get(schema)
        if tool is None:  # building a JSON schema costs ~1.5 ms: once per schema, not per call
            tool = self._tools[schema] = convert_to_openai_tool(schema, strict=True)
        function = tool["function"]
        chat = self.chat_model(model)
        if self.structured_output == "function_calling":
            return chat.bind(
                tools=[tool],
                tool_choice={"type": "function", "function": {"name": function["name"]}},
            )
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": function["name"],
                "description": function.get("description", ""),
                "schema": function["parameters"],
                "strict": True,
            },
        }
        if isinstance(chat, ChatOpenAI) and isinstance(chat.async_client, ChatCompletionsWire):
            # On the wire the reply streams as JSON text, validated below like any other.
            return chat.bind(extra_body={"response_format": response_format})
        return chat.bind(response_format=response_format)

    async def _call(
        self,
        make: Callable[[str], Runnable[Any, Any]],
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        agent: str,
        priority: Priority,
    ) -> tuple[AIMessage, _Outcome]:
        """The model's reply, from the model or, when it keeps failing, its fallbacks."""
        started = time.monotonic()
        failure: ModelUnavailableError | None = None
        for model in self.models:
            last = model == self.models[-1]
            if self.limiters.breaker(self.endpoint, model).is_open and not last:
                continue  # the last model is always tried: its retries may outlast an outage
            try:
                return await self._attempts(model, make(model), messages, config, agent, priority)
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
            try:
                message = await self._invoke(limiter, runnable, messages, watched)
            except Exception as error:
                if not is_retryable(error):
                    await limiter.refund(permit)
                    if isinstance(error, openai.APIError):
                        raise self._translate(error) from None
                    raise  # not the API's doing: a bug, keep its traceback
                wait = self.retry.delay(attempt, error)
                rate_limited = getattr(error, "status_code", None) == 429
                if rate_limited:  # not billed; everyone waits, not just this call
                    await limiter.refund(permit)
                    await limiter.pause(wait)
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
            await limiter.settle(permit, *usage_of(message))
            return message, _Outcome(model, attempt, time.monotonic() - started)

    async def _invoke(
        self,
        limiter: RateLimiter,
        runnable: Runnable[Any, Any],
        messages: Sequence[BaseMessage],
        config: RunnableConfig,
    ) -> Any:
        with self.observing(limiter):
            return await runnable.ainvoke(list(messages), config)

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
        await self.ledger.arecord(
            CallRecord(
                thread_id, agent, model, prompt, completion, outcome.seconds, outcome.attempts, cost
            )
        )
        return UsageTotals(
            calls=1, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost
        )

    def _scrub(self, text: str) -> str:
        """`text` with the API key (if any) replaced by its fingerprint."""
        if self._api_key is None:
            return text
        secret = self._api_key.get_secret_value()
        return text.replace(secret, fingerprint(secret)) if secret else text

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, openai.APIStatusError):
            return f"HTTP {error.status_code}"
        if isinstance(error, openai.APITimeoutError | httpx.TimeoutException):
            return "timed out"
        if isinstance(error, openai.APIConnectionError | httpx.TransportError):
            return "connection failed or was cut"
        return f"invalid response ({type(error).__name__})"

    def _translate(self, error: Exception) -> ModelError:
        key_name = fingerprint(self._api_key.get_secret_value()) if self._api_key else "(none)"
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


async def _prompt_estimate(model: str, messages: Sequence[BaseMessage], tpm: int | None) -> int:
    """Prompt tokens to reserve in a token budget of `tpm` (0 with none).

    A byte count bounds the tokens from above without the tokenizer; while it is a small
    share of the budget it is reserved as it is (the server's usage replaces it after the
    call). A larger prompt is counted exactly, loading the tokenizer's tables (~80 MiB,
    ~0.3 s) off the event loop the first time.
    """
    if not tpm:
        return 0
    counter = token_counter(model)
    bound = counter.messages_bound(messages)
    if bound <= tpm // 100:
        return bound
    if not encoding_loaded(model):
        await asyncio.to_thread(encoding_for_model, model)
    return counter.messages(list(messages))


def _with_params(
    runnable: Runnable[Any, Any], params: Mapping[str, Any] | None
) -> Runnable[Any, Any]:
    """`runnable` with model parameters bound (itself when there are none)."""
    return runnable.bind(**params) if params else runnable


def _json_of(message: AIMessage) -> str:
    """The JSON text of a typed reply: the forced tool call's arguments, or the content."""
    if message.tool_calls:
        return json.dumps(message.tool_calls[0]["args"])
    if message.invalid_tool_calls:
        return str(message.invalid_tool_calls[0].get("args") or "")
    return message.text


def _short(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "reply"
    return f"{where}: {first['msg']}"
