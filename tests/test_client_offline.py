"""OpenAIClient with no key and no base URL: the offline model, deterministic and local."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.offline import OFFLINE_MODEL_NAME
from copydesk.agents.verdict import Verdict
from tests._client import MESSAGES, VERDICT_PROMPT
from tests.fakes import FakeOpenAIServer


async def test_offline_client_is_deterministic_and_local(
    fake_server: FakeOpenAIServer,
) -> None:
    """With no key and no base URL the client is offline: no HTTP, same text twice, usage."""
    client = OpenAIClient()

    first = await client.complete(MESSAGES)
    second = await client.complete(MESSAGES)

    assert client.offline is True
    assert client.endpoint == "offline"
    assert client.model_label == OFFLINE_MODEL_NAME == "copydesk-offline"
    assert first.text == second.text
    assert "trees" in first.text.lower()
    assert first.usage["prompt_tokens"] > 0
    assert first.usage["completion_tokens"] > 0
    assert [c.model for c in client.ledger.calls] == ["copydesk-offline"] * 2
    assert fake_server.requests == []


@pytest.mark.parametrize("mode", ["json_schema", "function_calling"])
async def test_offline_structured_returns_valid_verdict(
    fake_server: FakeOpenAIServer, mode: Any
) -> None:
    """The offline model answers a typed request with a Verdict that validates."""
    client = OpenAIClient(structured_output=mode)

    result = await client.structured(VERDICT_PROMPT, Verdict)

    assert isinstance(result.value, Verdict)
    assert result.value.decision == "revise"  # the draft has no example and no takeaway
    assert {i.severity for i in result.value.issues} == {"major"}
    assert result.usage["calls"] == 1
    assert fake_server.requests == []


def test_offline_flag_overrides_key() -> None:
    """offline=True wins over a key and base URL; a key alone makes the client online."""
    forced = OpenAIClient(
        api_key=SecretStr("sk-test"), base_url="http://127.0.0.1:9/v1", offline=True
    )
    keyed = OpenAIClient(api_key=SecretStr("sk-test"))

    assert forced.offline is True
    assert forced.model_label == "copydesk-offline"
    assert keyed.offline is False
    assert keyed.endpoint == "https://api.openai.com/v1"
