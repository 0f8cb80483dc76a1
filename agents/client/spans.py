"""The span and the metrics of each model call, as OpenTelemetry's GenAI conventions name them.

A call's span (`chat MODEL`, kind client) carries `gen_ai.operation.name`,
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens` and
`output_tokens`, `gen_ai.response.finish_reasons`, `server.address` and `server.port`, the agent
and thread, and copydesk's own: the attempts, retries and 429s it took, the seconds it waited in
the rate limiter, the structured mode asked for, whether the usage was estimated, and the cost.
The messages and the reply are added only with `COPYDESK_TRACE_CONTENT=1`; the key never is.
With tracing and metrics both off, `watch_call` is a shared no-op.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig

from copydesk.agents.client.usage import ESTIMATED, usage_of
from copydesk.agents.state import UsageTotals
from copydesk.agents.telemetry.core import QUIET, AttributeValue, SpanLike

if TYPE_CHECKING:
    from copydesk.agents.client.calls import Outcome
    from copydesk.agents.client.chat import OpenAIClient

__all__ = ["CallWatch", "server_attributes", "watch_call"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class CallWatch:
    """What one call's span and metrics are told when the reply is in."""

    def __init__(self, client: OpenAIClient | None, span: SpanLike, agent: str) -> None:
        self._client = client
        self._span = span
        self._agent = agent
        self._started = time.monotonic()

    def answered(self, message: AIMessage, outcome: Outcome, usage: UsageTotals) -> None:
        """The call was answered by `outcome.model` with `message`, costing `usage`."""
        client = self._client
        if client is None:
            return
        prompt, completion = usage_of(message)
        cost = float(usage.get("cost_usd", 0.0))
        finish = message.response_metadata.get("finish_reason")
        attributes: dict[str, AttributeValue] = {
            "gen_ai.response.model": outcome.model,
            "gen_ai.usage.input_tokens": prompt,
            "gen_ai.usage.output_tokens": completion,
            "copydesk.attempts": outcome.attempts,
            "copydesk.retries": outcome.attempts - 1,
            "copydesk.rate_limited": outcome.rate_limited,
            "copydesk.limiter_wait_s": round(outcome.waited, 6),
            "copydesk.cost_usd": cost,
            "copydesk.usage_estimated": bool(message.response_metadata.get(ESTIMATED)),
        }
        if finish:
            attributes["gen_ai.response.finish_reasons"] = [str(finish)]
        if client.telemetry.content:
            attributes["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": _parts(message), "finish_reason": finish}]
            )
        self._span.set_attributes(attributes)
        self._count(
            ok=True,
            input_tokens=prompt,
            output_tokens=completion,
            cost=cost,
            attempts=outcome.attempts,
            rate_limited=outcome.rate_limited,
            waited=outcome.waited,
            model=outcome.model,
        )

    def failed(self) -> None:
        """The call failed (its span records the error)."""
        if self._client is not None:
            self._count(ok=False, model=self._client.model)

    def _count(self, *, ok: bool, model: str, **numbers: Any) -> None:
        client = self._client
        meters = client.telemetry.meters if client is not None else None
        if client is None or meters is None:
            return
        meters.call(
            agent=self._agent,
            model=model,
            server=client.endpoint,
            ok=ok,
            seconds=time.monotonic() - self._started,
            breaker_open=client.limiters.breaker(client.endpoint, model).is_open,
            **numbers,
        )


_IDLE = CallWatch(None, QUIET, "")


def watch_call(
    client: OpenAIClient,
    *,
    agent: str,
    config: RunnableConfig | None,
    params: Mapping[str, Any],
    messages: Sequence[BaseMessage],
    mode: str | None = None,
) -> AbstractContextManager[CallWatch]:
    """The span (and metrics) of one call around a `with` block; a no-op when both are off."""
    telemetry = client.telemetry
    if not telemetry.on and telemetry.meters is None:
        return nullcontext(_IDLE)
    return _watching(client, agent, config, params, messages, mode)


@contextmanager
def _watching(
    client: OpenAIClient,
    agent: str,
    config: RunnableConfig | None,
    params: Mapping[str, Any],
    messages: Sequence[BaseMessage],
    mode: str | None,
) -> Iterator[CallWatch]:
    telemetry = client.telemetry
    attributes = _request(client, agent, config, params, mode)
    if telemetry.content:
        attributes["gen_ai.input.messages"] = json.dumps(
            [{"role": _ROLES.get(m.type, m.type), "parts": _parts(m)} for m in messages]
        )
    with telemetry.span(f"chat {client.model}", attributes, kind="client") as span:
        watch = CallWatch(client, span, agent)
        try:
            yield watch
        except Exception:
            watch.failed()
            raise


def _request(
    client: OpenAIClient,
    agent: str,
    config: RunnableConfig | None,
    params: Mapping[str, Any],
    mode: str | None,
) -> dict[str, AttributeValue]:
    """The attributes known before the call."""
    thread = str(((config or {}).get("configurable") or {}).get("thread_id", ""))
    out: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": client.model,
        "gen_ai.agent.name": agent,
        "gen_ai.output.type": "json" if mode else "text",
        "openinference.span.kind": "LLM",
    }
    if thread:
        out["gen_ai.conversation.id"] = thread
    if mode:
        out["copydesk.structured_mode"] = mode
    for name in ("max_tokens", "temperature", "top_p"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[f"gen_ai.request.{name}"] = value
    return {**out, **server_attributes(client.endpoint)}


def server_attributes(endpoint: str) -> dict[str, AttributeValue]:
    """`server.address` and `server.port` of `endpoint` (its name when it is no URL: the
    offline model, an injected chat model)."""
    url = urlsplit(endpoint)
    if not url.hostname:
        return {"server.address": endpoint}
    return {
        "server.address": url.hostname,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
    }


def _parts(message: BaseMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.text:
        parts.append({"type": "text", "content": message.text})
    for call in getattr(message, "tool_calls", None) or []:
        parts.append({"type": "tool_call", "name": call["name"], "arguments": call["args"]})
    return parts
