"""Failing endpoints and broken streams: circuit breaker, fallback models, stream restarts,
and the `over_budget` ending, against the fake OpenAI server."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from pydantic import SecretStr
from typing_extensions import TypedDict

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.limiter import LimiterRegistry
from copydesk.agents.client.resilience import RESTART_EVENT
from copydesk.agents.client.retry import RetryPolicy
from copydesk.agents.errors import ModelUnavailableError
from copydesk.graphs.events import Restart, RunResult, Token
from copydesk.graphs.manager import ConversationManager
from tests._client import MESSAGES
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.writing import EditorialResponder

TEXT = "Street trees cool the city in summer and calm the traffic on every road."


async def _nap(seconds: float) -> None:
    return None


def stepping_clock() -> Any:
    """A breaker clock one second later at each reading: retries that do not really sleep
    are still seconds apart, as they are in use (the breaker counts a burst once)."""
    return itertools.count().__next__


def client_for(server: FakeOpenAIServer, **kwargs: Any) -> OpenAIClient:
    options: dict[str, Any] = {
        "limiters": LimiterRegistry(clock=stepping_clock()),
        "model": "gpt-4o",
        "api_key": SecretStr("sk-test"),
        "base_url": server.base_url,
        "retry": RetryPolicy(max_retries=8, rng=random.Random(0)),
        "sleep": _nap,
        **kwargs,
    }
    return OpenAIClient(**options)


def models_asked(server: FakeOpenAIServer) -> list[str]:
    return [str((r.body or {}).get("model")) for r in server.chat_requests()]


async def test_failing_model_falls_back_to_the_next(fake_server: FakeOpenAIServer) -> None:
    """Five 503s open gpt-4o's breaker: the call and the next go to gpt-4o-mini."""
    fake_server.faults.add(*[Fault.status(503)] * 5)
    async with client_for(fake_server, fallback_models=["gpt-4o-mini"]) as client:
        first = await client.complete(MESSAGES, agent="writer")
        second = await client.complete(MESSAGES, agent="writer")
    assert first.text.startswith("Fake reply") and second.text.startswith("Fake reply")
    assert models_asked(fake_server) == ["gpt-4o"] * 5 + ["gpt-4o-mini"] * 2
    assert [c.model for c in client.ledger.calls] == ["gpt-4o-mini", "gpt-4o-mini"]


async def test_every_model_failing_raises_one_clear_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.always = Fault.status(500)
    async with client_for(fake_server, fallback_models=["gpt-4o-mini"]) as client:
        with pytest.raises(ModelUnavailableError, match=r"gpt-4o-mini.*resume"):
            await client.complete(MESSAGES)
    assert set(models_asked(fake_server)) == {"gpt-4o", "gpt-4o-mini"}


async def test_breakers_are_shared_by_clients_of_one_registry(
    fake_server: FakeOpenAIServer,
) -> None:
    registry = LimiterRegistry(clock=stepping_clock())
    fake_server.faults.add(*[Fault.status(502)] * 5)
    async with client_for(fake_server, limiters=registry, fallback_models=["gpt-4o-mini"]) as a:
        await a.complete(MESSAGES)
    async with client_for(fake_server, limiters=registry, fallback_models=["gpt-4o-mini"]) as b:
        await b.complete(MESSAGES)
    assert models_asked(fake_server)[-1] == "gpt-4o-mini"  # b skipped the open breaker


class _State(TypedDict, total=False):
    text: str


async def _stream_one_call(server: FakeOpenAIServer) -> tuple[list[Any], str]:
    client = client_for(server)

    async def write(state: _State, config: RunnableConfig) -> _State:
        reply = await client.complete(MESSAGES, config=config, agent="writer")
        return {"text": reply.text}

    builder = StateGraph(_State)
    builder.add_node("writer", write)
    builder.add_edge(START, "writer")
    graph = builder.compile()
    seen: list[Any] = []
    final = ""
    async with client:
        async for mode, item in graph.astream({}, stream_mode=["messages", "custom", "values"]):
            if mode == "messages":
                seen.append(item[0].text)
            elif mode == "custom":
                seen.append(item)
            else:
                final = item.get("text", final)
    return seen, final


async def test_stream_cut_half_way_restarts_cleanly(fake_server: FakeOpenAIServer) -> None:
    """The consumer sees the partial tokens, then a restart event, then the whole reply."""
    fake_server.responder = lambda body: Reply(content=TEXT)
    fake_server.faults.add(Fault.cut_stream(after_chunks=4))
    seen, final = await _stream_one_call(fake_server)
    restarts = [i for i, x in enumerate(seen) if isinstance(x, dict)]
    assert len(restarts) == 1
    event = seen[restarts[0]]
    assert event["kind"] == RESTART_EVENT and event["agent"] == "writer"
    before = "".join(x for x in seen[: restarts[0]] if isinstance(x, str))
    after = "".join(x for x in seen[restarts[0] + 1 :] if isinstance(x, str))
    assert before and TEXT.startswith(before) and before != TEXT  # a truncated start...
    assert after.startswith(TEXT)  # ...then the whole reply again, never a truncated draft
    assert final == TEXT


async def test_stream_cut_before_first_token_is_retried_silently(
    fake_server: FakeOpenAIServer,
) -> None:
    fake_server.responder = lambda body: Reply(content=TEXT)
    fake_server.faults.add(Fault.cut_stream(after_chunks=0))
    seen, final = await _stream_one_call(fake_server)
    assert not [x for x in seen if isinstance(x, dict)]
    assert final == TEXT
    assert len(fake_server.chat_requests()) == 2


async def test_manager_reports_a_restart_and_keeps_the_whole_draft(make_settings: Any) -> None:
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("approve",))
        server.faults.add(Fault.cut_stream(after_chunks=3))
        async with (
            client_for(server) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            events = [e async for e in manager.stream("turn_taking", topic="owls at night")]
    restarts = [e for e in events if isinstance(e, Restart)]
    assert [r.agent for r in restarts] == ["writer"]
    result = events[-1]
    assert isinstance(result, RunResult)
    assert result.final_draft == "Draft 2 on owls at night."  # the retried, whole reply
    index = events.index(restarts[0])
    streamed = "".join(e.text for e in events[index:] if isinstance(e, Token) and not e.structured)
    assert streamed.startswith(result.final_draft)


async def test_max_cost_ends_the_run_over_budget(make_settings: Any) -> None:
    """A budget too small for the first prompt ends the run cleanly before any request."""
    settings = make_settings(checkpoint_url="memory:", max_rounds=10)
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise",))
        async with (
            client_for(server) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("turn_taking", topic="t", max_cost=0.0000001)
        sent = server.chat_requests()
    assert (result.status, result.ended_by, result.rounds) == ("over_budget", "cost_budget", 0)
    assert sent == [] and result.usage["total"]["calls"] == 0


async def test_with_no_fallback_the_model_keeps_its_retries(fake_server: FakeOpenAIServer) -> None:
    """An open breaker only moves calls to a fallback; the last model still gets its retries."""
    fake_server.faults.add(*[Fault.status(503)] * 6)
    async with client_for(fake_server) as client:
        reply = await client.complete(MESSAGES)
    assert reply.text.startswith("Fake reply")
    assert len(fake_server.chat_requests()) == 7
