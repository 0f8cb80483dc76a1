"""Counting without the tokenizer where it cannot change the answer.

The byte bound must never be below the real count (or a window would keep too much), the
window built through the bound must equal the one counting builds, and a short thread on the
default path must not load the tokenizer's tables at all (~80 MiB of RSS).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from memory.buffer import WindowPolicy
from memory.tokens import TokenCounter

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
def test_the_byte_bound_is_never_below_the_count(raw: list[tuple[bool, str, str]]) -> None:
    messages = _messages(raw)
    counter = TokenCounter("gpt-4o-mini")
    assert counter.messages(messages) <= counter.messages_bound(messages)
    for message in messages:
        assert counter.text(message.text) <= counter.text_bound(message.text)


@settings(max_examples=150, deadline=None)
@given(_MESSAGES, st.integers(min_value=8, max_value=600))
def test_the_window_through_the_bound_equals_the_counted_one(
    raw: list[tuple[bool, str, str]], budget: int
) -> None:
    history = _messages(raw)
    policy = WindowPolicy(max_tokens=budget)
    counter = TokenCounter("gpt-4o-mini")
    left, kept = budget - 3, []  # the window counted message by message, newest first
    for message in reversed(history):
        cost = counter.messages([message]) - 3
        if cost > left:
            break
        left -= cost
        kept.append(message)
    assert policy.window(history).messages == list(reversed(kept))


def test_a_short_thread_never_loads_the_tokenizer() -> None:
    """Default settings against a server (memory on): nothing is long enough to trim, and the
    token budget the server reports is far above the prompts, so no table is built."""
    script = textwrap.dedent(
        """
        import asyncio, os, tempfile
        import tiktoken.registry
        from tests.fakes import FakeOpenAIServer
        from tests.fakes.writing import EditorialResponder
        server = FakeOpenAIServer()
        server.responder = EditorialResponder(decisions=("revise",))
        with server:
            os.environ.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k",
                              COPYDESK_HOME=tempfile.mkdtemp())
            from agents.config import ConfigManager
            from graphs.manager import ConversationManager
            async def go():
                async with ConversationManager(ConfigManager().settings) as manager:
                    return await manager.run("turn_taking", topic="Otters", max_rounds=3)
            result = asyncio.run(go())
        assert result.rounds == 3, result
        print(sorted(tiktoken.registry.ENCODINGS))
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
    assert done.stdout.strip().splitlines()[-1] == "[]"
