"""The writer <-> editor loop: endings, rounds, state, and import without keys or network.

Conversation tests run against the memory, SQLite and PostgreSQL checkpointers."""

from __future__ import annotations

from typing import Any

import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.agents.team import Agents
from copydesk.graphs.topologies.turn_taking import EDITOR, WRITER, build
from copydesk.memory.checkpoint import open_checkpointer
from tests.fakes.writing import ScriptedChatModel, verdict_json


@pytest.fixture
async def checkpointer(checkpoint_url: str) -> Any:
    """An open checkpointer of each kind."""
    async with open_checkpointer(checkpoint_url) as saver:
        yield saver


def _run(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 1000}


def _agents(make_settings: Any, model: Any = None) -> Agents:
    settings = make_settings()
    return Agents.default(settings, client=OpenAIClient(chat_model=model) if model else None)


async def test_offline_run_ends_approved(make_settings: Any, checkpointer: Any) -> None:
    """Offline: revise once, then approve; every draft and verdict is kept."""
    graph = build(agents=_agents(make_settings), checkpointer=checkpointer)
    state = await graph.ainvoke({"topic": "night trains", "max_rounds": 3}, _run("a"))
    assert state["status"] == "approved"
    assert state["round"] == 2
    assert [v["decision"] for v in state["verdicts"]] == ["revise", "approve"]
    assert [r["round"] for r in state["revisions"]] == [1, 2]
    assert state["draft"] == state["revisions"][-1]["text"]
    assert "Night trains" in state["draft"]
    assert state["usage"]["writer"]["calls"] == 2 and state["usage"]["editor"]["calls"] == 2
    assert state["prompts"] == {"writer": "writer@v1", "editor": "editor@v1"}


async def test_running_out_of_rounds_is_a_normal_ending(
    make_settings: Any, checkpointer: Any
) -> None:
    """An editor that never approves ends the run at max_rounds with status out_of_rounds."""
    model = ScriptedChatModel(drafts=["d"], verdicts=[verdict_json("revise")])
    graph = build(agents=_agents(make_settings, model), checkpointer=checkpointer)
    state = await graph.ainvoke({"topic": "t", "max_rounds": 4}, _run("b"))
    assert state["status"] == "out_of_rounds"
    assert state["round"] == 4
    assert len(state["verdicts"]) == 4
    assert state["verdicts"][-1]["issues"]


async def test_many_rounds_do_not_hit_the_recursion_limit(
    make_settings: Any, checkpointer: Any
) -> None:
    """30 rounds (60 steps) end by the round limit, not GraphRecursionError; the state
    rebuilt from the (delta) checkpoints holds every message, draft and verdict."""
    model = ScriptedChatModel(drafts=["d"], verdicts=[verdict_json("revise")])
    graph = build(agents=_agents(make_settings, model), max_rounds=30, checkpointer=checkpointer)
    state = await graph.ainvoke({"topic": "t"}, _run("c"))
    assert state["status"] == "out_of_rounds" and state["round"] == 30
    stored = (await graph.aget_state(_run("c"))).values
    assert len(stored["messages"]) == 60 and len(stored["verdicts"]) == 30
    assert [r["round"] for r in stored["revisions"]] == list(range(1, 31))


async def test_build_max_rounds_is_the_default_for_inputs_without_one(make_settings: Any) -> None:
    """build(max_rounds=N) applies when the input does not set max_rounds."""
    model = ScriptedChatModel(drafts=["d"], verdicts=[verdict_json("revise")])
    state = await build(agents=_agents(make_settings, model), max_rounds=2).ainvoke({"topic": "t"})
    assert state["round"] == 2


def test_shape_matches_the_diagram(make_settings: Any) -> None:
    """Nodes are writer and editor; the editor may go back to the writer or end."""
    drawable = build(agents=_agents(make_settings)).get_graph()
    assert {WRITER, EDITOR} <= set(drawable.nodes)
    edges = {(e.source, e.target) for e in drawable.edges}
    assert ("__start__", WRITER) in edges and (WRITER, EDITOR) in edges
    assert (EDITOR, WRITER) in edges and (EDITOR, "__end__") in edges
