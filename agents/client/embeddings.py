"""`ClientEmbedder`: embeddings through the model client's machinery, for the memory store.

It shares the `OpenAIClient`'s connection pool of the running event loop (one per loop, never
one per request) and posts plain JSON on it (`wire.py`; vectors come as base64 float32),
waits in the limiter of its own embedding model (a budget apart from chat's, learned from
the same `x-ratelimit-*` headers), retries 408/409/429/5xx and broken
connections with the same backoff and `Retry-After`, and stops calling an endpoint whose
circuit breaker is open. A call that fails for good raises a `ModelError`; the store keeps
the texts waiting and embeds them with a later request, so no memory is lost.

`embedder_for(settings, client)` picks it when a key or base URL is set, else the offline
`LexicalEmbedder`; the graphs inject it into the store (`memory` imports nothing of ours).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import weakref
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import openai

from copydesk.agents.client.failures import Retries, translate
from copydesk.agents.client.gathering import Gathering
from copydesk.agents.client.retry import RetryPolicy, is_retryable
from copydesk.agents.client.spans import server_attributes
from copydesk.agents.client.waiting import Priority
from copydesk.agents.client.wire import ChatCompletionsWire
from copydesk.agents.errors import ModelRequestError, ModelUnavailableError
from copydesk.agents.telemetry.core import AttributeValue
from copydesk.memory.embeddings import Embedder, EmbedderMismatchError, Vectors, normalise

if TYPE_CHECKING:
    from copydesk.agents.client.chat import OpenAIClient
    from copydesk.agents.settings import Settings

__all__ = ["ClientEmbedder", "embedder_for"]

T = TypeVar("T")
OPENAI_URL = "https://api.openai.com/v1"
GATHER = 0.05
"""Seconds an embeddings request stays open for the calls of other conversations: fifty
conversations recalling at once share a few requests instead of sending fifty."""
NATIVE_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}


class ClientEmbedder:
    """Embeddings of one model, through `client`'s pool, limiter, retries and breaker.

    Args:
        client: The model client whose machinery (and endpoint and key) to use.
        model: Embedding model.
        dimensions: Vector length (sent to `text-embedding-3-*`, which can shorten vectors).
        retry: Backoff policy; by default the client's, within at most 60 s per call, since a
            recall waits for it and a failed call only delays when memories get their vector.
        gather: Seconds a request waits for other calls to join it (`gathering.py`); 0 sends
            each call alone.
    """

    def __init__(
        self,
        client: OpenAIClient,
        *,
        model: str = "text-embedding-3-small",
        dimensions: int = 1536,
        retry: RetryPolicy | None = None,
        gather: float = GATHER,
    ) -> None:
        self.client = client
        self.model = model
        self.dimensions = dimensions
        self.retry = retry or RetryPolicy(
            max_retries=client.retry.max_retries,
            base=client.retry.base,
            cap=client.retry.cap,
            budget=min(client.retry.budget, 60.0),
        )
        self._gathering = Gathering(self._request, window=gather)
        self.requests = 0
        """HTTP requests sent (attempts included)."""
        self._wires: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChatCompletionsWire] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def name(self) -> str:
        """`openai:<model>-<dims>`."""
        return f"openai:{self.model}-{self.dimensions}"

    @property
    def dims(self) -> int:
        """Vector length."""
        return self.dimensions

    @property
    def remote(self) -> bool:
        """Each call is a request: the store batches texts into as few as it can."""
        return True

    def _wire(self) -> ChatCompletionsWire:
        loop = asyncio.get_running_loop()
        wire = self._wires.get(loop)
        if wire is None:
            wire = self._wires[loop] = ChatCompletionsWire(  # the pool signs each request
                self.client.http_client(), self.client.base_url or OPENAI_URL, path="/embeddings"
            )
        return wire

    async def aembed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text, in one request (the caller sizes the batch; calls
        within `gather` seconds of each other share the request).

        Raises:
            ModelError: The request failed for good (after retries), or the breaker is open.
            EmbedderMismatchError: The model answered with vectors of another length.
        """
        if not texts:
            return np.empty((0, self.dimensions), np.float32)
        return await self._gathering.embed(texts)

    async def _request(self, texts: Sequence[str]) -> Vectors:
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": self.model,
            "copydesk.texts": len(texts),
            "openinference.span.kind": "EMBEDDING",
            **server_attributes(self.client.endpoint),
        }
        telemetry = self.client.telemetry
        with telemetry.span(f"embeddings {self.model}", attributes, kind="client"):
            return await self._embed(texts)

    async def _embed(self, texts: Sequence[str]) -> Vectors:
        client = self.client
        limiter = client.limiters.get(client.endpoint, self.model, client.key_id)
        breaker = client.limiters.breaker(client.endpoint, self.model)
        tokens = sum(len(t) // 4 + 1 for t in texts)
        options: dict[str, Any] = {}
        if self.model.startswith("text-embedding-3") and self.dimensions != NATIVE_DIMS.get(
            self.model
        ):
            options["dimensions"] = self.dimensions  # older models reject the field
        retries = Retries(
            subject=f"{client.endpoint} embeddings",
            endpoint=client.endpoint,
            model=self.model,
            limiter=limiter,
            breaker=breaker,
            retry=self.retry,
            sleep=asyncio.sleep,
        )
        attempt = 0
        while True:
            attempt += 1
            if attempt == 1 and not breaker.enter():  # later attempts: `back_off` decides
                raise ModelUnavailableError(breaker.describe())
            permit = await limiter.acquire(tokens if limiter.tpm else 0, priority=Priority.DRAFT)
            self.requests += 1
            try:
                with client.observing(limiter):
                    reply = await self._wire().create(
                        model=self.model,
                        input=[t or " " for t in texts],
                        encoding_format="base64",
                        **options,
                    )
                vectors = self._matrix(reply, len(texts))
            except Exception as error:
                await retries.give_back(permit, error)
                if not is_retryable(error):
                    raise self._translate(error) from None
                await retries.back_off(error, attempt)  # no fallback: an open breaker ends it
                continue
            breaker.success()
            used = int((reply.get("usage") or {}).get("prompt_tokens") or 0)
            await limiter.settle(permit, used, 0)
            client.telemetry.annotate(
                {"gen_ai.usage.input_tokens": used, "copydesk.attempts": attempt}
            )
            return vectors

    def _matrix(self, reply: Any, count: int) -> Vectors:
        """The vectors of a reply (base64 float32, or lists from servers that ignore the
        encoding), in input order; a reply of another shape is retried like a broken body."""
        try:
            rows = sorted(reply["data"], key=lambda d: d["index"])
            matrix = np.stack([_vector(row["embedding"]) for row in rows]).reshape(count, -1)
        except (KeyError, TypeError, ValueError) as error:
            raise json.JSONDecodeError(f"not an embeddings reply ({error})", "", 0) from None
        if matrix.shape[1] != self.dimensions:
            raise EmbedderMismatchError(
                f"{self.model} returned {matrix.shape[1]}-dimensional vectors, expected "
                f"{self.dimensions}; set COPYDESK_EMBEDDING_DIMS to match the model"
            )
        return normalise(matrix)

    def _translate(self, error: Exception) -> Exception:
        if isinstance(error, openai.NotFoundError):
            return ModelRequestError(
                f"{self.client.endpoint}: embedding model {self.model!r} not found; set "
                "COPYDESK_EMBEDDING_MODEL to one it serves"
            )
        if isinstance(error, openai.APIError):
            client = self.client
            return translate(error, client.endpoint, client.model, client.key_auth)
        return error

    def embed(self, texts: Sequence[str]) -> Vectors:
        """`aembed` for callers without an event loop (the CLI), on a loop of its own."""

        async def once() -> Vectors:
            try:
                return await self.aembed(texts)
            finally:
                await self.client.aclose()  # this loop's connections go with it

        return _run(once())


def _vector(value: Any) -> Vectors:
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), np.float32)
    return np.asarray(value, np.float32)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to completion: here when no loop runs, else in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(work)
        except BaseException as error:  # handed to the caller's thread
            box["error"] = error

    thread = threading.Thread(target=target, name="copydesk-embed")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def embedder_for(settings: Settings, client: OpenAIClient | None = None) -> Embedder:
    """Embeddings through `client` (made from settings when None) when a key or base URL is
    set and the run is not offline; else the deterministic offline `LexicalEmbedder`."""
    from copydesk.memory.fallback import serving_embedder
    from copydesk.memory.minilm import local_embedder

    local = local_embedder(settings.local_embedder, settings.embedding_dims)
    if settings.is_offline or (settings.openai_api_key is None and not settings.openai_base_url):
        return local  # MiniLM with the `minilm` extra, else the lexical embedder
    from copydesk.agents.client.chat import OpenAIClient

    model = settings.embedding_model
    client = client or OpenAIClient.from_settings(settings)
    remote = ClientEmbedder(
        client,
        model=model,
        dimensions=settings.embedding_dims or NATIVE_DIMS.get(model, 1536),
    )
    # A server without embeddings (llama.cpp, many local ones): the local embedder, said once.
    return serving_embedder(
        remote,
        local,
        base_url=settings.openai_base_url,
        auth=client.key_auth,
        model=model,
        decide=client.capabilities.serves_embeddings,
    )
