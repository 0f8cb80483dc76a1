"""Budgets are hard limits: held before every model call, each call's output cap cut to
what remains, the remainder shared by calls at once. The spend is read from the fake
server's own log of what it served (it cuts replies at `max_tokens`, as OpenAI does)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.budget import Allowance, allowance_scope
from copydesk.agents.errors import BudgetSpentError
from copydesk.agents.verdict import Verdict
from copydesk.graphs.manager import ConversationManager
from tests.fakes import FakeOpenAIServer, Reply
from tests.fakes.documents import DocumentResponder
from tests.fakes.openai_server import LlamaCppQuirks
from tests.fakes.topologies import TopologyResponder

BUDGETS = {
    "turn_taking": 1200,
    "debate": 1200,
    "round_robin": 1200,
    "supervisor": 1200,
    "review_panel": 1200,
    "pipeline": 300,  # one pass of four calls spends ~460
    "document": 1200,
}
PROMPT = [SystemMessage("You are terse."), HumanMessage("Say something long.")]


def served(server: FakeOpenAIServer) -> int:
    """Tokens the server billed: prompts and completions of every reply it sent."""
    return sum(u["prompt_tokens"] + u["completion_tokens"] for u in server.served)


@pytest.mark.parametrize("name", list(BUDGETS))
async def test_a_token_budget_holds_in_every_topology(make_settings: Any, name: str) -> None:
    """Editors that never approve and thirty rounds allowed: the budget ends the run, and
    the server served no more than the budget, every token of it recorded in the thread."""
    settings = make_settings(checkpoint_url="memory:")
    budget = BUDGETS[name]
    with FakeOpenAIServer() as server:
        server.cap_replies = True
        server.responder = (
            DocumentResponder(reviews=99)
            if name == "document"
            else TopologyResponder(approve_after=99)
        )
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run(
                name, topic="Harbour cranes", max_rounds=30, token_budget=budget
            )
    total = result.usage["total"]
    assert (result.status, result.ended_by) == ("over_budget", "token_budget")
    assert budget // 3 < served(server) <= budget
    assert total["prompt_tokens"] + total["completion_tokens"] == served(server)
    assert total["calls"] == len(server.served)


@pytest.mark.parametrize("name", list(BUDGETS))
async def test_a_budget_too_small_for_the_first_prompt_sends_nothing(
    make_settings: Any, name: str
) -> None:
    """Whichever node speaks first (writer, moderator, outliner) is refused: no request, and
    the run ends over budget, not in an error or a loop."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run(name, topic="Harbour cranes", token_budget=30)
    assert (result.status, result.ended_by) == ("over_budget", "token_budget")
    assert server.chat_requests() == [] and result.usage["total"]["calls"] == 0


async def test_max_cost_holds_and_names_the_cost_budget(make_settings: Any) -> None:
    """At gpt-4o's prices, `max_cost` stops the thread before the server served more."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.cap_replies = True
        server.responder = TopologyResponder(approve_after=99)
        async with (
            OpenAIClient(model="gpt-4o", base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("turn_taking", topic="Kites", max_rounds=30, max_cost=0.004)
    cost = sum(u["prompt_tokens"] * 2.5e-6 + u["completion_tokens"] * 10e-6 for u in server.served)
    assert (result.status, result.ended_by) == ("over_budget", "cost_budget")
    assert 0.002 < cost <= 0.004
    assert result.usage["total"]["cost_usd"] == pytest.approx(cost)


async def test_a_llama_cpp_server_with_a_tiny_budget_is_never_called(make_settings: Any) -> None:
    """The issue's run: `--token-budget 50` against llama.cpp. The first prompt does not
    fit: nothing is sent, and the run ends over budget, not in an error."""
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.llama_cpp = LlamaCppQuirks()
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("turn_taking", topic="Owls", token_budget=50)
    assert (result.status, result.ended_by, result.rounds) == ("over_budget", "token_budget", 0)
    assert server.chat_requests() == []


async def test_calls_at_once_share_the_remainder(fake_server: FakeOpenAIServer) -> None:
    """Three calls of one thread at once, room for two and a half: each gets the cap it
    would get alone while there is room, the third only what is left, and the server never
    serves past the budget; a fourth is not sent."""
    fake_server.cap_replies = True
    fake_server.responder = lambda body: Reply(content="word " * 400)
    budget = 310
    async with OpenAIClient(base_url=fake_server.base_url, max_output_tokens=100) as client:
        with allowance_scope(Allowance("t", tokens=budget)):
            outcomes = await asyncio.gather(
                *(client.complete(PROMPT) for _ in range(3)), return_exceptions=True
            )
            with pytest.raises(BudgetSpentError, match="token budget"):
                await client.complete(PROMPT)
    caps = sorted(r.body["max_tokens"] for r in fake_server.chat_requests() if r.body)
    spent = [o for o in outcomes if isinstance(o, BudgetSpentError)]
    assert len(spent) == 1 and spent[0].usage is not None and spent[0].usage["calls"] == 1
    assert caps[1:] == [100, 100] and caps[0] < 100
    assert served(fake_server) <= budget and len(fake_server.chat_requests()) == 3


async def test_a_typed_reply_cut_by_the_budget_ends_it_without_repairs(
    fake_server: FakeOpenAIServer,
) -> None:
    """A long verdict whose cap the budget cut is not asked for again with twice the cap:
    one request, and the error says the budget is spent (a node ends the run over budget)."""
    fake_server.cap_replies = True
    long = {"decision": "revise", "issues": [], "summary": "Too long. " * 400}
    fake_server.responder = lambda body: Reply(content=json.dumps(long))
    async with OpenAIClient(base_url=fake_server.base_url) as client:
        with allowance_scope(Allowance("t", tokens=1000)), pytest.raises(BudgetSpentError) as spent:
            await client.structured(PROMPT, Verdict)
    (request,) = fake_server.chat_requests()
    assert request.body is not None and request.body["max_tokens"] < 1000
    assert spent.value.ending == "token_budget" and spent.value.usage is not None
    assert spent.value.usage["completion_tokens"] == request.body["max_tokens"]
    assert served(fake_server) <= 1000


async def test_a_thread_resumed_elsewhere_counts_what_its_state_says(
    fake_server: FakeOpenAIServer,
) -> None:
    """The book trusts the state where it says more was spent (another process's calls)."""
    async with OpenAIClient(base_url=fake_server.base_url) as client:
        with (
            allowance_scope(Allowance("t", tokens=1000, spent_tokens=990)),
            pytest.raises(BudgetSpentError),
        ):
            await client.complete(PROMPT)
    assert fake_server.chat_requests() == []


async def test_a_cost_budget_without_a_price_or_an_output_cap_sends_uncapped(
    fake_server: FakeOpenAIServer,
) -> None:
    """A model the price table does not know, no output cap: the cost budget has nothing to
    cap the reply by, so the call goes as asked (it used to fail on an infinite cap)."""
    async with OpenAIClient(
        model="house-model", base_url=fake_server.base_url, max_output_tokens=None
    ) as client:
        with allowance_scope(Allowance("t", cost=0.01)):
            reply = await client.complete(PROMPT)
    (request,) = fake_server.chat_requests()
    assert reply.message.content and request.body is not None
    assert request.body.get("max_tokens") is None
