"""OpenAIClient's typed replies against the fake OpenAI server: the request each structured
mode sends, and the repair of a reply that does not validate."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler

from copydesk.agents.client import STRUCTURED_TAG
from copydesk.agents.errors import ModelOutputError
from copydesk.agents.verdict import Verdict
from tests._client import MESSAGES, VERDICT_PROMPT, ClientFactory, RecordingSleep, message_texts

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._client import make_client as make_client
from tests._client import sleep as sleep
from tests.fakes import FakeOpenAIServer, Fault
from tests.fakes.writing import EditorialResponder

# --- structured output -----------------------------------------------------------------------


async def test_structured_json_schema_sends_strict_response_format(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """json_schema mode sends a strict response_format for Verdict and parses the reply."""
    fake_server.responder = EditorialResponder(decisions=("revise",))
    client = make_client(structured_output="json_schema")

    result = await client.structured(VERDICT_PROMPT, Verdict, agent="editor")

    assert isinstance(result.value, Verdict)
    assert result.value.decision == "revise"
    assert result.value.issues[0].severity == "major"
    assert result.usage["calls"] == 1
    [request] = fake_server.chat_requests()
    body = request.body
    assert body is not None
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["name"] == "Verdict"
    schema = response_format["json_schema"]["schema"]
    assert set(schema["properties"]) == {"decision", "issues", "summary"}
    assert schema["additionalProperties"] is False
    assert "tools" not in body
    assert client.ledger.calls[0].agent == "editor"


async def test_structured_function_calling_forces_tool_and_parses_call(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """function_calling mode sends the Verdict tool with a forced tool_choice, parses the call."""
    fake_server.responder = EditorialResponder(decisions=("approve",))
    client = make_client(structured_output="function_calling")

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert result.value.decision == "approve"
    assert result.value.issues == []
    assert result.message.tool_calls[0]["name"] == "Verdict"
    [request] = fake_server.chat_requests()
    body = request.body
    assert body is not None
    assert "response_format" not in body
    [tool] = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "Verdict"
    assert tool["function"]["strict"] is True
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Verdict"}}


async def test_structured_calls_are_tagged(make_client: ClientFactory) -> None:
    """Typed calls carry STRUCTURED_TAG (plus the caller's tags); plain calls do not."""
    seen: list[list[str]] = []

    class TagSpy(AsyncCallbackHandler):
        async def on_chat_model_start(
            self, serialized: Any, messages: Any, *, tags: list[str] | None = None, **kw: Any
        ) -> None:
            seen.append(list(tags or []))

    client = make_client()
    config: Any = {"callbacks": [TagSpy()], "tags": ["mine"]}

    await client.structured(VERDICT_PROMPT, Verdict, config=config)
    await client.complete(MESSAGES, config=config)

    assert STRUCTURED_TAG in seen[0]
    assert "mine" in seen[0]
    assert STRUCTURED_TAG not in seen[1]
    assert config["tags"] == ["mine"]  # the caller's config is not mutated


# --- repair of invalid typed replies ---------------------------------------------------------


async def test_invalid_json_is_repaired_on_second_request(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep, make_client: ClientFactory
) -> None:
    """An invalid first reply is answered with a repair request; the valid second one wins."""
    fake_server.responder = EditorialResponder(decisions=("approve",))
    fake_server.faults.add(Fault.bad_content("not json"))
    client = make_client(max_repairs=2)

    result = await client.structured(VERDICT_PROMPT, Verdict, agent="editor")

    assert result.value.decision == "approve"
    assert result.usage["calls"] == 2
    assert len(client.ledger.calls) == 2
    first, second = fake_server.chat_requests()
    assert len(message_texts(first.body)) == len(VERDICT_PROMPT)
    texts = message_texts(second.body)
    assert texts[: len(VERDICT_PROMPT)] == message_texts(first.body)
    assert texts[-2] == "not json"  # the bad reply is shown back to the model
    assert "not a valid Verdict" in texts[-1]
    assert second.body is not None
    assert second.body["messages"][-2]["role"] == "assistant"
    assert second.body["messages"][-1]["role"] == "user"
    assert sleep.delays == []  # a repair is not a retry


async def test_always_invalid_raises_model_output_error(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """A reply that never validates ends in ModelOutputError after max_repairs + 1 requests."""
    fake_server.always = Fault.bad_content("not json")
    client = make_client(max_repairs=2)

    with pytest.raises(ModelOutputError, match=r"not a valid Verdict after 3 attempts") as info:
        await client.structured(VERDICT_PROMPT, Verdict, agent="editor")

    assert str(info.value).startswith("editor:")
    assert len(fake_server.chat_requests()) == 3
    assert len(client.ledger.calls) == 3  # the failed attempts still cost tokens


async def test_schema_violation_is_repaired(
    fake_server: FakeOpenAIServer, make_client: ClientFactory
) -> None:
    """Valid JSON that breaks the schema is repaired too, and the repair names the problem."""
    fake_server.faults.add(
        Fault.bad_content('{"decision": "maybe", "issues": [], "summary": "hm"}')
    )
    fake_server.responder = EditorialResponder(decisions=("revise",))
    client = make_client()

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert result.value.decision == "revise"
    repair = message_texts(fake_server.chat_requests()[1].body)[-1]
    assert "decision" in repair
