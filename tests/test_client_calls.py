"""OpenAIClient against the fake OpenAI server: plain replies, usage in the ledger, and one
client across consecutive event loops."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.retry import RetryPolicy
from tests._client import MESSAGES, ClientFactory, RecordingSleep, message_texts

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._client import make_client as make_client
from tests._client import sleep as sleep
from tests.fakes import FakeOpenAIServer, Reply

# --- plain completions and usage -------------------------------------------------------------


async def test_complete_returns_server_text_and_records_usage(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """A plain call returns the server's text; usage lands in the Reply and the ledger."""
    fake_server.responder = lambda body: Reply(
        content="Trees cool the street.", prompt_tokens=42, completion_tokens=7
    )
    client = make_client()

    reply = await client.complete(
        MESSAGES, config={"configurable": {"thread_id": "t-1"}}, agent="writer"
    )

    assert reply.text == "Trees cool the street."
    assert reply.usage == {
        "calls": 1,
        "prompt_tokens": 42,
        "completion_tokens": 7,
        "cost_usd": pytest.approx((42 * 0.15 + 7 * 0.60) / 1e6),  # gpt-4o-mini list price
    }
    [call] = client.ledger.calls
    assert (call.thread_id, call.agent, call.model) == ("t-1", "writer", "gpt-4o-mini")
    assert (call.prompt_tokens, call.completion_tokens, call.attempts) == (42, 7, 1)
    assert client.ledger.totals(thread_id="t-1")["writer"] == reply.usage
    assert client.ledger.totals(thread_id="other") == {}
    assert sleep.delays == []


async def test_complete_sends_model_key_and_messages(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """The request goes to /v1/chat/completions with the model, bearer key and the messages."""
    client = make_client()

    await client.complete(MESSAGES)

    [request] = fake_server.chat_requests()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body is not None
    assert request.body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert message_texts(request.body)[-1] == "Topic: why cities plant trees"
    assert client.endpoint == fake_server.base_url
    assert client.model_label == "gpt-4o-mini"


async def test_ledger_accumulates_across_calls_and_agents(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """Totals add up per agent and overall across several calls."""
    fake_server.responder = lambda body: Reply(content="ok", prompt_tokens=10, completion_tokens=3)
    client = make_client()

    await client.complete(MESSAGES, agent="writer")
    await client.complete(MESSAGES, agent="writer")
    await client.complete(MESSAGES, agent="editor")

    totals = client.ledger.totals()

    def tokens(usage):
        return {k: v for k, v in usage.items() if k != "cost_usd"}

    assert tokens(totals["writer"]) == {"calls": 2, "prompt_tokens": 20, "completion_tokens": 6}
    assert tokens(totals["editor"]) == {"calls": 1, "prompt_tokens": 10, "completion_tokens": 3}
    assert tokens(totals["total"]) == {"calls": 3, "prompt_tokens": 30, "completion_tokens": 9}
    assert totals["total"]["cost_usd"] == pytest.approx((30 * 0.15 + 9 * 0.60) / 1e6)


# --- event loops -----------------------------------------------------------------------------


def test_one_client_serves_consecutive_event_loops(fake_server: FakeOpenAIServer) -> None:
    """The same client works in two consecutive asyncio.run calls (one HTTP pool per loop)."""
    client = OpenAIClient(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-test"),
        base_url=fake_server.base_url,
        retry=RetryPolicy(max_retries=0),
        sleep=RecordingSleep(),
    )

    async def session() -> list[str]:
        async with client:
            return [(await client.complete(MESSAGES)).text for _ in range(2)]

    first = asyncio.run(session())
    second = asyncio.run(session())

    assert [t[: len("Fake reply 1")] for t in first] == ["Fake reply 1", "Fake reply 2"]
    assert [t[: len("Fake reply 3")] for t in second] == ["Fake reply 3", "Fake reply 4"]
    assert len(fake_server.chat_requests()) == 4
    assert len(client.ledger.calls) == 4
