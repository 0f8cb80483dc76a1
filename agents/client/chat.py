"""`OpenAIClient`: the single door to any OpenAI-compatible API, or to the offline model.

Built on langchain-openai's `ChatOpenAI` (LangGraph streams its tokens, LangSmith traces its
calls); one client serves every agent and thread of a process and puts together the parts of
a call, each its own module: the pool (`pool.py`), limiter, retries and fallbacks (`calls.py`),
failures (`failures.py`), requests (`shaping.py`), capabilities (`capabilities.py`), typed
repairs (`repair.py`), the thread's budget (`budget.py`) and the accounting (`usage.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, SecretStr

from copydesk.agents.client.budget import Spending
from copydesk.agents.client.calls import CallPath
from copydesk.agents.client.capabilities import (
    CapabilityBook,
    ContextExceeded,
    FeatureRefused,
    StructuredMode,
)
from copydesk.agents.client.cuts import StreamCut
from copydesk.agents.client.failures import EmptyReply
from copydesk.agents.client.keys import KeyAuth
from copydesk.agents.client.limiter import LimiterRegistry
from copydesk.agents.client.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from copydesk.agents.client.pacing import RateLimiter
from copydesk.agents.client.pool import DEFAULT_ENDPOINT, LoopPool
from copydesk.agents.client.prices import PriceTable
from copydesk.agents.client.repair import Repairs
from copydesk.agents.client.replies import STRUCTURED_TAG, Reply, Structured
from copydesk.agents.client.request import Requests
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.client.sites import calling
from copydesk.agents.client.spans import watch_call
from copydesk.agents.client.typed import ask_for_json, typed_cap, was_cut
from copydesk.agents.client.usage import UsageLedger, charge_call
from copydesk.agents.client.waiting import Priority
from copydesk.agents.config import ConfigManager
from copydesk.agents.errors import ModelRequestError, fingerprint
from copydesk.agents.settings import Settings
from copydesk.agents.telemetry.core import Telemetry

__all__ = ["STRUCTURED_TAG", "OpenAIClient", "Reply", "Structured"]

T = TypeVar("T", bound=BaseModel)


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
        telemetry: Where the span and metrics of each call go (none when None).
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
        telemetry: Telemetry | None = None,
    ) -> None:
        self.model = model
        self.telemetry = telemetry or Telemetry()
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
        self._auth = KeyAuth(api_key, config=config)
        self._fixed_model = chat_model
        self._offline_model = OfflineChatModel(tokenizer_model=model)
        self._pool = LoopPool(
            base_url=base_url, timeout=timeout, max_connections=max_connections, auth=self._auth
        )
        self._calls = CallPath(self, self._pool, sleep)
        self._requests = Requests(self, as_is=chat_model is not None)
        self.spending = Spending(model, self.prices, self._requests.params)
        secret = api_key.get_secret_value() if api_key is not None else ""
        self._key_id = fingerprint(secret) if secret else "(none)"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        config: ConfigManager | None = None,
        telemetry: Telemetry | None = None,
    ) -> OpenAIClient:
        """A client configured from settings, asking `config` (a manager of these settings
        when None) for the key on every request, tracing as `telemetry` says (as the
        settings say when None)."""
        key = settings.openai_api_key
        client = cls(
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
            telemetry=telemetry or Telemetry.from_settings(settings),
        )
        client.spending.share(settings.redis_url, settings.resolved_checkpoint_url)
        return client

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
        return self._pool.chat_model(model or self.model)

    @property
    def key_auth(self) -> KeyAuth:
        """How requests are signed: the key of each request's moment, each use audited (for
        a synchronous request outside the pool, e.g. the embeddings probe)."""
        return self._auth

    def http_client(self) -> httpx.AsyncClient:
        """The connection pool of the running event loop (made on first use), shared by chat
        and embeddings; responses feed the limiter set with `observing`."""
        return self._pool.http_client()

    def observing(self, limiter: RateLimiter) -> AbstractContextManager[None]:
        """Let `limiter` learn from the `x-ratelimit-*` headers of responses in this block."""
        return self._pool.observing(limiter)

    async def aclose(self) -> None:
        """Close the HTTP (and Redis) connections opened in the running event loop."""
        await self._pool.aclose()
        await self.limiters.aclose()
        await self.spending.book.aclose()

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
        with calling(agent):
            return await self._complete(messages, config, agent, params, priority)

    async def _complete(
        self,
        messages: Sequence[BaseMessage],
        config: RunnableConfig | None,
        agent: str,
        params: Mapping[str, Any] | None,
        priority: Priority,
    ) -> Reply:
        stream = True
        for _ in range(4):  # a lesson (empty stream, context) at most three times
            sent = self._requests.params(params, self.max_output_tokens)
            asked = self._requests.messages(messages, sent)
            hold, sent = await self.spending.capped(asked, sent, params)
            try:
                with (
                    watch_call(
                        self, agent=agent, config=config, params=sent, messages=asked
                    ) as watch,
                    self.spending.holding(hold),
                ):
                    message, outcome = await self._calls.call(
                        partial(self._requests.plain, params=sent, stream=stream),
                        asked,
                        config,
                        agent,
                        priority,
                    )
                    usage = await charge_call(self, message, config, agent, outcome)
                    watch.answered(message, outcome, usage)
                self.spending.close(hold, usage, cut=was_cut(message))  # no part of a draft
                break
            except EmptyReply:
                stream = False  # the whole answer at once says what went wrong, if anything
            except ContextExceeded as exceeded:
                self.capabilities.context_is(
                    self.endpoint, self.model, exceeded.limit, exceeded.detail
                )
        else:
            raise ModelRequestError(
                f"{self.endpoint} ({self.model}) sent no usable reply (empty, or the prompt "
                "does not fit its context); set COPYDESK_CONTEXT_TOKENS or use a larger model"
            )
        return Reply(message, usage)

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
        with calling(agent):
            return await self._structured(messages, schema, config, agent, params, priority)

    async def _structured(
        self,
        messages: Sequence[BaseMessage],
        schema: type[T],
        config: RunnableConfig | None,
        agent: str,
        params: Mapping[str, Any] | None,
        priority: Priority,
    ) -> Structured[T]:
        tagged: RunnableConfig = {
            **(config or {}),
            "tags": [*(config or {}).get("tags", []), STRUCTURED_TAG],
        }
        cap = int((params or {}).get("max_tokens") or 0) or typed_cap(self.max_output_tokens)
        repairs = Repairs(schema, messages, cap=cap, max_repairs=self.max_repairs, agent=agent)
        while repairs.going:
            caps = self.capabilities.of(self.endpoint, self.model)
            mode, tool = caps.structured, self._requests.tool(schema)
            sent = self._requests.params(repairs.params(params), None)
            asked = repairs.conversation
            if mode == "json_prompt":
                asked, tool = ask_for_json(asked, tool), {}  # the schema is in the prompt
            asked = self._requests.messages(asked, sent)
            hold, sent = await self.spending.capped(asked, sent, repairs.params(params), tool)
            try:
                with (
                    watch_call(
                        self, agent=agent, config=config, params=sent, messages=asked, mode=mode
                    ) as watch,
                    self.spending.holding(hold),
                ):
                    message, outcome = await self._calls.call(
                        partial(
                            self._requests.typed,
                            schema,
                            mode=mode,
                            params=sent,
                            stream=caps.stream_structured,
                        ),
                        asked,
                        tagged,
                        agent,
                        priority,
                        feature=mode,
                    )
                    usage = await charge_call(self, message, config, agent, outcome)
                    watch.answered(message, outcome, usage)
            except (FeatureRefused, EmptyReply, ContextExceeded, StreamCut) as lesson:
                repairs.taught(lesson, f"{self.endpoint} ({self.model})")
                self.capabilities.learn(
                    self.endpoint, self.model, lesson, mode, caps.stream_structured
                )
                continue
            self.spending.close(hold, usage, cut=was_cut(message))
            repairs.add(usage)
            value = repairs.read(message)
            if value is not None:
                return Structured(value, message, repairs.usage)
            self.spending.refuse(hold, repairs.usage)  # a repair past the budget: none
        raise repairs.failed()
