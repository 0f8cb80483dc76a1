"""What the OpenAIClient tests share: prompts, a sleep that records its delays, a token
listener that makes the model stream, and a fixture that builds clients for the fake server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.retry import RetryPolicy
from tests.fakes import FakeOpenAIServer

MESSAGES: list[BaseMessage] = [
    SystemMessage("You are a careful writer."),
    HumanMessage("Topic: why cities plant trees"),
]
VERDICT_PROMPT: list[BaseMessage] = [
    SystemMessage("You are the editor. Judge the draft."),
    HumanMessage("Draft:\n<<<\nTrees shade streets.\n>>>"),
]


class RecordingSleep:
    """An injectable sleep that records each requested delay and yields without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class TokenListener(AsyncCallbackHandler):
    """Listens for tokens the way a LangGraph `messages` stream does, so the model streams."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.tokens.append(str(token))

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[Any]) -> Iterator[Any]:
        return output


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


ClientFactory = Callable[..., OpenAIClient]


@pytest.fixture
async def make_client(
    fake_server: FakeOpenAIServer, sleep: RecordingSleep
) -> AsyncIterator[ClientFactory]:
    """Builds clients for the fake server (or `base_url`) and closes their HTTP pools after."""
    made: list[OpenAIClient] = []

    def make(
        *,
        max_retries: int = 3,
        budget: float = 300.0,
        api_key: str = "sk-test",
        base_url: str | None = None,
        **kwargs: Any,
    ) -> OpenAIClient:
        client = OpenAIClient(
            model="gpt-4o-mini",
            api_key=SecretStr(api_key),
            base_url=base_url or fake_server.base_url,
            retry=RetryPolicy(max_retries=max_retries, budget=budget, rng=random.Random(0)),
            sleep=sleep,
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def message_texts(body: dict[str, Any] | None) -> list[str]:
    assert body is not None
    return [str(m.get("content") or "") for m in body["messages"]]
