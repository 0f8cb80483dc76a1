"""The fake OpenAI server's rate budget: requests and tokens per second or minute, for all
models or one, refused with 429s that say when to come back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests._fake_server import USER, chat

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._fake_server import client as client
from tests._fake_server import server as server
from tests.fakes import FakeOpenAIServer


def test_enforce_rps_rejects_excess_of_burst(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    server.enforce(rps=5)

    def attempt(_: int) -> openai.RateLimitError | None:
        try:
            chat(client)
        except openai.RateLimitError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    rejected = [exc for exc in outcomes if exc is not None]

    assert outcomes.count(None) == 5
    assert len(rejected) == 15
    assert all(0 < float(exc.response.headers["retry-after"]) <= 1 for exc in rejected)
    assert all(int(exc.response.headers["retry-after-ms"]) >= 1 for exc in rejected)
    assert all(exc.response.headers["x-ratelimit-limit-requests"] == "5" for exc in rejected)
    assert server.rejected_429 == 15
    assert len(server.chat_requests()) == 20


def test_enforce_tpm_uses_max_tokens_and_can_be_turned_off(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    server.enforce(tpm=100)

    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=USER, max_tokens=60
    )
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, max_tokens=60)
    server.enforce()

    assert raw.headers["x-ratelimit-limit-tokens"] == "100"
    assert raw.headers["x-ratelimit-remaining-tokens"] == str(100 - 60 - 3)
    assert 55 < float(caught.value.response.headers["retry-after"]) <= 60
    assert chat(client, max_tokens=60).choices
    assert server.rejected_429 == 1


def test_enforce_per_model_limits_and_counts(
    server: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    """A model-specific limit applies to that model only; 429s are counted per model."""
    server.enforce(rps=1)
    server.enforce(rps=3, model="text-embedding-3-small")

    def embed() -> bool:
        try:
            client.embeddings.create(model="text-embedding-3-small", input="x")
        except openai.RateLimitError:
            return False
        return True

    def talk() -> bool:
        try:
            chat(client)
        except openai.RateLimitError:
            return False
        return True

    embedded = [embed() for _ in range(5)]
    talked = [talk() for _ in range(3)]

    assert embedded == [True, True, True, False, False]
    assert talked == [True, False, False]
    assert server.rejected_429_by_model() == {"text-embedding-3-small": 2, "gpt-4o-mini": 2}
    assert server.rejected_429 == 4
    server.enforce()  # the general call drops the model-specific limit too
    assert all(embed() for _ in range(5))
    server.reset()
    assert server.rejected_429_by_model() == {}
