"""What the fake OpenAI server's tests share: a server and a real openai SDK client on it,
one chat call, and the typed reply the structured-output tests ask for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, Field

from tests.fakes import FakeOpenAIServer

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as sdk:
        yield sdk


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=USER, **kwargs)


class Source(BaseModel):
    url: str
    kind: Literal["web", "book"]


class Critique(BaseModel):
    """An editor's verdict."""

    verdict: str
    score: int = Field(ge=3, le=9)
    sources: list[Source]
    tags: list[str] | None
    written_at: datetime
