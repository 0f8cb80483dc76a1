"""Counting without the tokenizer's tables.

Both bounds (UTF-8 bytes, and `upper`: vocabulary pieces) must never be below the real count
(or a window would keep too much); `upper` must be exact for prose; the window must never
hold more than its budget, counted by tiktoken; and a thread on the default path, short or
trimmed, must not build the tokenizer's tables at all (~75 MiB of RSS).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from copydesk.memory import tokens
from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.tokens import TokenCounter

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)
_MESSAGES = st.lists(
    st.tuples(st.booleans(), _TEXT, st.sampled_from(["", "writer", "editor", "ré"])), max_size=12
)


def _messages(raw: list[tuple[bool, str, str]]) -> list[BaseMessage]:
    return [
        AIMessage(text, name=name or None) if ai else HumanMessage(text, name=name or None)
        for ai, text, name in raw
    ]


@settings(max_examples=150, deadline=None)
@given(_MESSAGES)
def test_the_bounds_are_never_below_the_count(raw: list[tuple[bool, str, str]]) -> None:
    messages = _messages(raw)
    counter = TokenCounter("gpt-4o-mini")
    exact = counter.messages(messages)
    assert exact <= counter.messages_upper(messages) <= counter.messages_bound(messages)
    for message in messages:
        assert counter.text(message.text) <= counter.upper(message.text)
        assert counter.upper(message.text) <= counter.text_bound(message.text)


_PROSE = [
    "Trees cool the street they stand on by several degrees in summer, and slow the cars.",
    "The harbour master rows a green boat every day; she has done so for 31 years!",
    "  Why? Because a street without trees is a street people hurry through.\n\nThe end.",
    "The editor asks: support the claim with one concrete number and name the city.",
]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
def test_upper_is_exact_for_prose(model: str) -> None:
    """Common words are vocabulary tokens; a rare one counts as its bytes."""
    counter = TokenCounter(model)
    for text in _PROSE:
        assert counter.upper(text) == counter.text(text), text
    rare = "The harbourmaster rows a dory."
    assert counter.text(rare) < counter.upper(rare) <= counter.text_bound(rare)


@settings(max_examples=150, deadline=None)
@given(_MESSAGES, st.integers(min_value=8, max_value=600))
def test_the_window_never_holds_more_than_its_budget(
    raw: list[tuple[bool, str, str]], budget: int
) -> None:
    """Counted by tiktoken, the window fits; it is the newest messages; it drops a message
    only when the bound says it would not fit."""
    history = _messages(raw)
    policy = WindowPolicy(max_tokens=budget)
    counter = TokenCounter("gpt-4o-mini")
    window = policy.window(history).messages
    assert window == history[len(history) - len(window) :]
    assert counter.messages(window) <= budget
    if len(window) < len(history):
        with_next = history[len(history) - len(window) - 1 :]
        assert counter.messages_upper(with_next) > budget


def test_a_prose_window_is_the_counted_one() -> None:
    """For prose the bound is the count, so the window is what exact counting keeps."""
    history: list[BaseMessage] = [
        HumanMessage(_PROSE[n % len(_PROSE)], name="writer") for n in range(40)
    ]
    counter = TokenCounter("gpt-4o-mini")
    for budget in (30, 100, 250, 600):
        left, kept = budget - 3, []
        for message in reversed(history):
            cost = counter.messages([message]) - 3
            if cost > left:
                break
            left -= cost
            kept.append(message)
        assert WindowPolicy(max_tokens=budget).window(history).messages == kept[::-1]


def test_a_tampered_vocabulary_file_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vocabulary file sits beside tiktoken's cache (a shared temporary folder by
    default): one that does not match its hash is never used."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokens, "_VOCABULARIES", {})
    tokens.vocabulary_for_model("gpt-4o-mini")
    (written,) = tmp_path.glob("copydesk-o200k_base.vocabulary")
    good = written.read_bytes()
    written.write_bytes(b".*\nzzz")  # every piece "in the vocabulary": counts far too low
    monkeypatch.setattr(tokens, "_VOCABULARIES", {})
    assert not tokens.vocabulary_loaded("gpt-4o-mini")
    assert TokenCounter("gpt-4o-mini").upper("zzz zzz zzz") >= 3
    assert written.read_bytes() == good


@pytest.mark.parametrize("window_tokens", ["6000", "64"])
def test_a_thread_never_loads_the_tokenizer(window_tokens: str) -> None:
    """Default settings against a server (memory on): a short thread is not counted, a
    trimmed one is counted through the vocabulary; the token budget the server reports is far
    above the prompts. No tokenizer table is built either way."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, tempfile
        import tiktoken.registry
        from tests.fakes import FakeOpenAIServer
        from tests.fakes.writing import EditorialResponder
        server = FakeOpenAIServer()
        server.responder = EditorialResponder(decisions=("revise",))
        with server:
            os.environ.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k",
                              COPYDESK_HOME=tempfile.mkdtemp(),
                              COPYDESK_WINDOW_TOKENS="{window_tokens}")
            from copydesk.agents.config import ConfigManager
            from copydesk.graphs.manager import ConversationManager
            from copydesk.memory.tokens import vocabulary_loaded
            async def go():
                async with ConversationManager(ConfigManager().settings) as manager:
                    return await manager.run("turn_taking", topic="Otters", max_rounds=4)
            result = asyncio.run(go())
        assert result.rounds == 4, result
        print(vocabulary_loaded("gpt-4o-mini"), sorted(tiktoken.registry.ENCODINGS))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    trimmed = window_tokens == "64"
    assert done.stdout.strip().splitlines()[-1] == f"{trimmed} []"
