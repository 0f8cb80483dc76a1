"""Chatbot nodes: context building, typed verdicts, and one instance serving many threads."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from copydesk.agents.chatbot import Editor, Writer, feedback_text
from copydesk.agents.client import OpenAIClient
from copydesk.agents.state import DraftState
from copydesk.memory.buffer import WindowPolicy
from copydesk.prompts.registry import PromptRegistry
from tests.fakes.writing import ScriptedChatModel, verdict_json


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def _writer(client: OpenAIClient, budget: int = 2000) -> Writer:
    prompt = PromptRegistry().get("writer")
    return Writer("writer", "drafts", prompt, client, WindowPolicy(max_tokens=budget))


def _editor(client: OpenAIClient) -> Editor:
    prompt = PromptRegistry().get("editor")
    return Editor("editor", "reviews", prompt, client, WindowPolicy(max_tokens=2000))


async def test_writer_first_draft_update() -> None:
    """The first call renders the `first` task and returns draft, revision, round 1, usage."""
    model = ScriptedChatModel(drafts=["A first draft."])
    writer = _writer(OpenAIClient(chat_model=model))
    update = await writer({"topic": "tides", "max_rounds": 3}, _config("t"))
    assert update["draft"] == "A first draft."
    assert update["round"] == 1
    assert update["revisions"] == [{"round": 1, "author": "writer", "text": "A first draft."}]
    assert update["usage"]["writer"]["calls"] == 1
    assert update["messages"][0].id == "t:1:writer"
    sent = model.seen[0]
    assert isinstance(sent[0], SystemMessage)
    assert "Topic: tides" in sent[-1].text and "round 1 of 3" in sent[-1].text


async def test_writer_revision_carries_draft_and_every_issue() -> None:
    """A revision's task quotes the current draft and each issue of the latest verdict."""
    model = ScriptedChatModel(drafts=["Second."])
    writer = _writer(OpenAIClient(chat_model=model))
    verdict = {
        "round": 1,
        "agent": "editor",
        "decision": "revise",
        "summary": "s",
        "issues": [
            {"severity": "major", "quote": "Old text", "comment": "Add an example."},
            {"severity": "minor", "quote": "Old", "comment": "Shorter title."},
        ],
    }
    state: DraftState = {"topic": "t", "draft": "Old text.", "round": 1, "verdicts": [verdict]}
    update = await writer(state, _config("t"))
    task = model.seen[0][-1].text
    assert "Old text." in task
    assert "Add an example." in task and "Shorter title." in task
    assert update["round"] == 2


async def test_editor_returns_typed_verdict_not_sentinel() -> None:
    """The decision comes from the typed reply, even if the text says APPROVED."""
    model = ScriptedChatModel(verdicts=[verdict_json("revise")])
    editor = _editor(OpenAIClient(chat_model=model))
    state: DraftState = {"topic": "t", "draft": "APPROVED APPROVED", "round": 1}
    update = await editor(state, _config("t"))
    assert update["verdicts"][0]["decision"] == "revise"
    assert update["verdicts"][0]["issues"][0]["severity"] == "major"
    assert update["messages"][0].name == "editor"


def test_window_keeps_newest_history_within_budget() -> None:
    """Old history is dropped to fit the budget; system and task are always there."""
    writer = _writer(OpenAIClient(), budget=120)
    history = [
        HumanMessage("topic", name="user"),
        *[AIMessage(f"draft {i} " + "word " * 40, name="writer") for i in range(10)],
        AIMessage("latest verdict", name="editor"),
    ]
    state: DraftState = {"topic": "t", "draft": "current", "messages": history, "round": 10}
    context = writer.context(state, "revise", 11)
    middle = context[1:-1]
    assert isinstance(context[0], SystemMessage)
    assert "current" in context[-1].text
    assert 0 < len(middle) < len(history) - 2
    assert writer.window.counter.messages(middle) <= 120
    assert "draft 8" in middle[-1].text  # the newest ones survive


def test_feedback_text_lists_issues() -> None:
    """Issues render one per line with severity and quote."""
    text = feedback_text(
        {"summary": "s", "issues": [{"severity": "major", "quote": "q", "comment": "c"}]}
    )
    assert text == '- [major] "q": c'
    assert feedback_text(None) == "(none)"


async def test_one_writer_serves_50_threads_at_once() -> None:
    """50 concurrent threads through one instance each get a draft on their own topic."""
    writer = _writer(OpenAIClient())  # offline: the draft derives from the topic
    topics = [f"topic number {i} about lighthouse {i}" for i in range(50)]

    async def one(i: int) -> dict[str, Any]:
        state: DraftState = {"topic": topics[i], "max_rounds": 2}
        return dict(await writer(state, _config(f"thread-{i}")))

    updates = await asyncio.gather(*(one(i) for i in range(50)))
    for i, update in enumerate(updates):
        assert f"lighthouse {i}" in update["draft"]
        assert update["messages"][0].id == f"thread-{i}:1:writer"
        others = [f"lighthouse {j}\n" for j in range(50) if j != i]
        assert not any(other in update["draft"] for other in others)
    assert len(writer.client.ledger.calls) == 50
    assert {c.thread_id for c in writer.client.ledger.calls} == {f"thread-{i}" for i in range(50)}
