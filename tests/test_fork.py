"""ConversationManager.fork and thread continuation: new threads from old checkpoints, other
agents for a fork, errors, and budgets from the run's input."""

from __future__ import annotations

from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.team import Agents
from copydesk.graphs.fork import ForkError
from copydesk.graphs.manager import ConversationManager, InputError, UnknownThreadError
from tests.fakes.writing import ScriptedChatModel, verdict_json


async def _checkpoint_before(manager: ConversationManager, thread: str, node: str) -> str:
    history = await manager.history(thread)
    return next(h.checkpoint_id for h in reversed(history) if h.next == (node,))


async def test_fork_runs_on_with_other_agents(make_settings: Any) -> None:
    """A fork from before the first draft, run by a scripted cast, writes the script's draft."""
    settings = make_settings()
    async with ConversationManager(settings) as manager:
        await manager.run("turn_taking", topic="Lighthouses", thread_id="a")
        before_writer = await _checkpoint_before(manager, "a", "writer")
        scripted = ScriptedChatModel(
            drafts=["Scripted lighthouse."], verdicts=[verdict_json("approve")]
        )
        cast = Agents.default(settings, client=OpenAIClient(chat_model=scripted))
        events = [e async for e in manager.fork("a", before_writer, new_thread_id="b", agents=cast)]
        original = await manager.result("a")
        lines = manager.transcript("b").lines()
    forked = events[-1]
    assert forked.thread_id == "b" and forked.status == "approved"
    assert forked.final_draft == "Scripted lighthouse." and forked.rounds == 1
    assert original.final_draft != forked.final_draft and original.rounds == 2
    assert [x["agent"] for x in lines] == ["writer", "editor"]  # only what the fork said


async def test_fork_of_a_paused_review_pauses_again(make_settings: Any) -> None:
    """Forking the checkpoint where a review waits re-runs the reviewer: the fork waits too."""
    async with ConversationManager(make_settings()) as manager:
        paused = await manager.run("turn_taking", topic="Kites", review=True, thread_id="r")
        latest = (await manager.history("r"))[0].checkpoint_id
        forked = [e async for e in manager.fork("r", latest, new_thread_id="r2")][-1]
        answered = await manager.resume("r2", answer={"action": "approve"})
    assert paused.status == forked.status == "waiting_for_review"
    assert (answered.status, answered.ended_by) == ("approved", "human")


async def test_fork_errors(make_settings: Any) -> None:
    """Unknown thread or checkpoint, unsettable keys and taken thread ids are clear errors."""
    async with ConversationManager(make_settings()) as manager:
        await manager.run("turn_taking", topic="t", thread_id="x", max_rounds=1)
        checkpoint = (await manager.history("x"))[0].checkpoint_id
        with pytest.raises(UnknownThreadError):
            [e async for e in manager.fork("nope", checkpoint)]
        with pytest.raises(ForkError, match="has no checkpoint"):
            [e async for e in manager.fork("x", "bad-id")]
        with pytest.raises(ForkError, match="cannot set messages"):
            [e async for e in manager.fork("x", checkpoint, values={"messages": []})]
        with pytest.raises(InputError, match="exists already"):
            [e async for e in manager.fork("x", checkpoint, new_thread_id="x")]


async def test_token_budget_from_the_run_and_a_continued_thread(make_settings: Any) -> None:
    """`token_budget` ends a run over budget; continuing a thread keeps its usage."""
    async with ConversationManager(make_settings()) as manager:
        first = await manager.run("turn_taking", topic="Bells", thread_id="b", token_budget=200)
        moved = await manager.run("round_robin", thread_id="b", max_rounds=1)
    assert (first.status, first.ended_by, first.rounds) == ("over_budget", "token_budget", 1)
    assert moved.usage["writer"]["calls"] == 2  # one draft in each run, summed
    assert moved.rounds == 2 and moved.graph == "round_robin"
