"""Token counting with bundled tables, and the token-bounded window."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import tiktoken
import tiktoken_ext.openai_public
from langchain_core.messages import AIMessage, HumanMessage

from memory.buffer import WindowPolicy
from memory.tokens import TokenCounter, _seed_cache, encoding_for_model


def test_counts_match_tiktoken_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty cache is seeded from the bundled table, which tiktoken then loads and
    verifies itself (the suite forbids network, so a download would fail)."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    _seed_cache("cl100k_base")
    (seeded,) = tmp_path.iterdir()
    expected = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    assert hashlib.sha256(seeded.read_bytes()).hexdigest() == expected
    fresh = tiktoken.core.Encoding(**tiktoken_ext.openai_public.cl100k_base())
    assert fresh.encode("hello world") == [15339, 1917]
    assert encoding_for_model("gpt-4o-mini").encode("hello world") == [24912, 2375]


def test_models_map_to_their_encodings() -> None:
    """gpt-4 uses cl100k; an unknown model falls back to o200k."""
    assert encoding_for_model("gpt-4").name == "cl100k_base"
    assert encoding_for_model("llama3-local").name == "o200k_base"
    assert isinstance(encoding_for_model("gpt-4o"), tiktoken.Encoding)


def test_message_counts_include_overhead() -> None:
    """Each message costs its text plus a fixed overhead."""
    counter = TokenCounter("gpt-4o-mini")
    one = counter.messages([HumanMessage("hello world")])
    two = counter.messages([HumanMessage("hello world"), HumanMessage("hello world")])
    assert one == 3 + 4 + 2
    assert two - one == 4 + 2


def test_window_within_budget_newest_kept() -> None:
    """The window holds whole messages, newest first, within the budget."""
    policy = WindowPolicy(max_tokens=60)
    history = [AIMessage(f"message {i} " + "filler " * 10) for i in range(20)]
    window = policy.recent(history)
    assert window == history[-len(window) :]
    assert 0 < len(window) < 20
    assert policy.counter.messages(window) <= 60


def test_window_rejects_non_positive_budget() -> None:
    """A zero budget is a configuration error."""
    with pytest.raises(ValueError, match="positive"):
        WindowPolicy(max_tokens=0)
