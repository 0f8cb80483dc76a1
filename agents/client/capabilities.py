"""What each server can do, learned from its answers rather than assumed.

OpenAI-compatible servers differ: llama.cpp refuses a `json_schema` response format, some
servers cannot force a tool call, many send no usage in a stream, many serve no embeddings,
and every local model has a small context. copydesk starts from the configured structured
mode and learns, per endpoint and model, from the first call that shows a limit:

- a typed reply falls back json_schema -> forced tool call -> plain JSON asked for in the
  prompt (validated, with the usual bounded repair);
- a typed reply whose stream comes back empty or broken is asked for again without streaming;
- a server that ends a running stream when another request arrives (llama.cpp's default) gets
  one request at a time from this process;
- a server that reports no usage gets its tokens counted with the tokenizer ("estimated");
- a context limit named in an error message becomes the prompt's budget.

Each lesson is logged once per process (one line naming the server and what copydesk does
instead) and kept for the process: later calls go straight to what works.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import openai

from copydesk.agents.errors import ModelRequestError

__all__ = [
    "STRUCTURED_MODES",
    "Capabilities",
    "CapabilityBook",
    "ContextExceeded",
    "FeatureRefused",
    "StructuredMode",
    "context_limit_in",
    "refusal_of",
]

log = logging.getLogger("copydesk.client")

StructuredMode = Literal["json_schema", "function_calling", "json_prompt"]
STRUCTURED_MODES: tuple[StructuredMode, ...] = ("json_schema", "function_calling", "json_prompt")
"""Ways to ask for a typed reply, best first; a refused one falls to the next."""

_MODE_WORDS: dict[str, str] = {
    "json_schema": "a json_schema response_format",
    "function_calling": "a forced tool call",
    "json_prompt": "plain JSON asked for in the prompt",
}
# What a server's message says when it refuses the feature (llama.cpp: "Input should be
# 'text' or 'json_object'"; vLLM/Ollama name the field).
_REFUSES = {
    "json_schema": re.compile(r"response_format|json_schema|json_object|schema|'text'", re.I),
    "function_calling": re.compile(r"tool|function", re.I),
}
_CONTEXT = re.compile(
    r"(?:context(?: window| length)?(?: of| is)?|maximum context length is)\D{0,20}(\d{3,7})",
    re.I,
)
_OVERFLOW = re.compile(r"context|too long|exceed", re.I)


class FeatureRefused(Exception):
    """The server refused a feature the request used (not worth retrying as it was)."""

    def __init__(self, feature: str, detail: str) -> None:
        super().__init__(f"{feature} refused: {detail}")
        self.feature = feature
        self.detail = detail


class ContextExceeded(Exception):
    """The prompt is longer than the model's context; `limit` when the server named it."""

    def __init__(self, limit: int | None, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if text:
            return " ".join(str(text).split())
    return " ".join(str(error.message).split())


def context_limit_in(text: str) -> int | None:
    """The context size a server's error message names, if any."""
    match = _CONTEXT.search(text)
    return int(match.group(1)) if match else None


def refusal_of(error: BaseException, feature: str | None) -> Exception | None:
    """`FeatureRefused` or `ContextExceeded` when `error` says so, else None.

    Only a definite answer counts: an HTTP 400/422/500/501 whose message names the feature
    (or the context). Rate limits, timeouts, auth and other errors go on to the retries.
    """
    if not isinstance(error, openai.APIStatusError):
        return None
    if error.status_code not in (400, 413, 422, 500, 501):
        return None
    detail = _message(error)[:300]
    if _OVERFLOW.search(detail) and (
        "context" in detail.lower() or error.status_code in (400, 413)
    ):
        limit = context_limit_in(detail)
        if limit is not None or "context" in detail.lower():
            return ContextExceeded(limit, detail)
    pattern = _REFUSES.get(feature or "")
    if pattern is not None and pattern.search(detail):
        return FeatureRefused(str(feature), detail)
    return None


@dataclass
class Capabilities:
    """What one endpoint and model can do, as learned so far.

    Attributes:
        structured: How typed replies are asked for now.
        stream_structured: Whether a typed reply may be streamed.
        stream_usage: Whether replies report usage (None: not seen yet).
        embeddings: Whether the endpoint serves embeddings (None: not tried).
        context_tokens: The model's context (None: unknown).
        one_at_a_time: Whether a second request cuts the running one, so that calls must
            be sent one after another.
    """

    structured: StructuredMode = "json_schema"
    stream_structured: bool = True
    stream_usage: bool | None = None
    embeddings: bool | None = None
    context_tokens: int | None = None
    one_at_a_time: bool = False


class CapabilityBook:
    """Capabilities per (endpoint, model) for this process; every lesson said once.

    Args:
        structured: The configured structured mode, where every endpoint starts.
        context_tokens: A context size to assume for every model (a setting), or None.
    """

    def __init__(
        self, structured: StructuredMode = "json_schema", context_tokens: int | None = None
    ) -> None:
        self.structured = structured
        self.context_tokens = context_tokens
        self._known: dict[tuple[str, str], Capabilities] = {}
        self._said: set[str] = set()
        self._lock = threading.Lock()
        self._probing = threading.Lock()  # one embeddings probe per endpoint at a time

    def of(self, endpoint: str, model: str) -> Capabilities:
        """What `model` at `endpoint` can do (the defaults until something is learned)."""
        with self._lock:
            known = self._known.get((endpoint, model))
            if known is None:
                known = self._known[(endpoint, model)] = Capabilities(
                    structured=self.structured, context_tokens=self.context_tokens
                )
            return known

    def say(self, key: str, message: str, *args: object) -> None:
        """Log `message` at WARNING the first time `key` is said in this process."""
        with self._lock:
            if key in self._said:
                return
            self._said.add(key)
        log.warning(message, *args)

    def refused(self, endpoint: str, model: str, mode: str, detail: str) -> StructuredMode | None:
        """`mode` was refused: the next mode to use, or None when none is left."""
        caps = self.of(endpoint, model)
        order = STRUCTURED_MODES
        following = order[order.index(mode) + 1 :] if mode in order else ()
        if not following:
            return None
        if caps.structured == mode:
            caps.structured = following[0]
        self.say(
            f"refused:{endpoint}:{model}:{mode}",
            "%s (%s) does not accept %s (%s); typed replies now use %s "
            "(set COPYDESK_STRUCTURED_OUTPUT=%s to start there)",
            endpoint,
            model,
            _MODE_WORDS[mode],
            detail[:160],
            _MODE_WORDS[caps.structured],
            caps.structured,
        )
        return caps.structured

    def learn(
        self, endpoint: str, model: str, lesson: Exception, mode: StructuredMode, streamed: bool
    ) -> None:
        """Remember what a typed call in `mode` (`streamed` or not) taught: a refused mode,
        a prompt over the context, or an empty or broken stream.

        Raises:
            ModelRequestError: The server refused every way of asking for a typed reply.
        """
        if isinstance(lesson, FeatureRefused):
            if self.refused(endpoint, model, mode, lesson.detail) is None:
                raise ModelRequestError(
                    f"{endpoint} ({model}) refused every way of asking for a typed "
                    f"reply ({lesson.detail[:160]}); use a server or model that follows JSON"
                ) from None
        elif isinstance(lesson, ContextExceeded):
            self.context_is(endpoint, model, lesson.limit, lesson.detail)
        elif streamed:
            self.broken_stream(endpoint, model)

    def broken_stream(self, endpoint: str, model: str) -> None:
        """A typed reply's stream came back empty or broken: ask for typed replies whole."""
        self.of(endpoint, model).stream_structured = False
        self.say(
            f"stream:{endpoint}:{model}",
            "%s (%s) sent an empty or broken stream for a typed reply; typed replies are now "
            "requested without streaming",
            endpoint,
            model,
        )

    def serves_one_at_a_time(self, endpoint: str, model: str) -> None:
        """A request arriving while a stream ran cut that stream: send one at a time."""
        self.of(endpoint, model).one_at_a_time = True
        self.say(
            f"serial:{endpoint}:{model}",
            "%s (%s) ended a running stream when another request arrived (it serves one "
            "request at a time); copydesk now sends it one request at a time",
            endpoint,
            model,
        )

    def no_usage(self, endpoint: str, model: str) -> None:
        """Replies report no usage: tokens are counted with the tokenizer."""
        self.of(endpoint, model).stream_usage = False
        self.say(
            f"usage:{endpoint}:{model}",
            "%s (%s) reports no token usage; counting tokens with the tokenizer "
            "(usage and costs are marked estimated)",
            endpoint,
            model,
        )

    def context_is(self, endpoint: str, model: str, tokens: int | None, detail: str) -> int:
        """The prompt did not fit: remember the context (halve the guess when unnamed)."""
        caps = self.of(endpoint, model)
        if tokens is None:
            tokens = max(512, (caps.context_tokens or 8192) // 2)
        caps.context_tokens = tokens
        self.say(
            f"context:{endpoint}:{model}:{tokens}",
            "%s (%s) has a context of %d tokens (%s); prompts are trimmed to fit "
            "(set COPYDESK_CONTEXT_TOKENS to say so up front)",
            endpoint,
            model,
            tokens,
            detail[:120],
        )
        return tokens

    def serves_embeddings(
        self, endpoint: str, model: str, probe: Callable[[], tuple[bool, str]]
    ) -> bool:
        """Whether `model` at `endpoint` serves embeddings: `probe()` (the answer and why
        not) the first time this book is asked, the remembered answer after."""
        with self._probing:
            caps = self.of(endpoint, model)
            if caps.embeddings is None:
                served, why = probe()
                caps.embeddings = served
                if not served:
                    self.no_embeddings(endpoint, model, why)
            return bool(caps.embeddings)

    def no_embeddings(self, endpoint: str, model: str, detail: str) -> None:
        """The endpoint serves no embeddings: recall uses the local embedder."""
        self.of(endpoint, model).embeddings = False
        self.say(
            f"embeddings:{endpoint}",
            "%s serves no embeddings for %s (%s); recall uses the local embedder instead",
            endpoint,
            model,
            detail[:160],
        )
