"""Token counting with bundled tables, and the token-bounded window."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import tiktoken
import tiktoken_ext.openai_public
from langchain_core.messages import AIMessage, HumanMessage

from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.tokens import TokenCounter, _seed_cache, encoding_for_model


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


def test_window_counts_each_message_once_however_long_the_history() -> None:
    """Newest-first accumulation: a 5,000-message history is encoded about window + 1 times,
    and the result equals a 500-message history's window."""
    policy = WindowPolicy(max_tokens=300)
    history = [AIMessage(f"message {i} " + "filler " * 10, name="writer") for i in range(5000)]
    assert policy.recent(history) == policy.recent(history[-500:])
    window = policy.window(history)
    assert window.dropped == 5000 - len(window.messages)
    assert policy.counter.messages(window.messages) <= 300


def test_summary_of_dropped_messages_fits_the_budget() -> None:
    """With summary_tokens, the dropped messages' first sentences come first, newest first,
    and summary plus window stay within max_tokens."""
    policy = WindowPolicy(max_tokens=200, summary_tokens=80)
    history = [
        HumanMessage(f"Point {i} matters. " + "more words " * 8, name="user") for i in range(30)
    ]
    window = policy.window(history)
    assert window.summary is not None and "Point" in window.summary.text
    first_line = window.summary.text.splitlines()[1]
    assert f"Point {29 - len(window.messages)} matters." in first_line
    assert policy.counter.messages(window.as_list()) <= 200
