"""Pruning checkpoints on SQLite and PostgreSQL: old self-contained checkpoints go, nothing a
delta replay, a pending human review or a fork needs is removed, bytes freed are counted."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from benchmarks._checkpoints import bare_graph
from copydesk.agents.client import OpenAIClient
from copydesk.agents.team import Agents
from copydesk.graphs.topologies.turn_taking import build
from copydesk.memory.checkpoint import open_checkpointer
from copydesk.memory.prune import prune_checkpoints
from tests.fakes.writing import ScriptedChatModel, verdict_json


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cp.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 200}


async def test_plain_channel_threads_lose_old_checkpoints(durable_url: str) -> None:
    """A graph with plain channels keeps full state per checkpoint: old ones go, the newest
    two stay, the state is intact and the freed bytes are reported."""
    async with open_checkpointer(durable_url) as saver:
        graph = bare_graph(saver, rounds=5)
        await graph.ainvoke({"messages": [], "round": 0}, _config("plain"))
        before = [s async for s in graph.aget_state_history(_config("plain"))]
        report = await prune_checkpoints(saver, keep_last=2, thread_id="plain")
        after = [s async for s in graph.aget_state_history(_config("plain"))]
        state = (await graph.aget_state(_config("plain"))).values
    assert report.removed == len(before) - 2 and report.kept == 2
    assert report.bytes_freed > 0
    assert len(after) == 2 and len(state["messages"]) == 10


async def test_delta_threads_keep_what_replay_needs(durable_url: str, make_settings: Any) -> None:
    """copydesk's delta channels rebuild state from ancestors, so a linear thread keeps its
    chain from the first message on (only the empty input checkpoint may go) and its state
    stays whole after pruning."""
    model = ScriptedChatModel(drafts=["d"], verdicts=[verdict_json("revise")])
    agents = Agents.default(make_settings(memory=False), client=OpenAIClient(chat_model=model))
    async with open_checkpointer(durable_url) as saver:
        graph = build(agents=agents, checkpointer=saver, max_rounds=4)
        await graph.ainvoke({"topic": "t"}, _config("delta"))
        report = await prune_checkpoints(saver, keep_last=1)
        state = (await graph.aget_state(_config("delta"))).values
    assert report.removed <= 1 and report.kept >= 8
    assert len(state["messages"]) == 8 and len(state["verdicts"]) == 4


class ReviewState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    round: int


def review_graph(saver: Any) -> Any:
    """writer -> review (asks a human with `interrupt`) -> writer ... (3 drafts)."""

    def writer(state: ReviewState) -> dict[str, Any]:
        return {"messages": [AIMessage("draft " * 50)], "round": state["round"] + 1}

    def review(state: ReviewState) -> dict[str, Any]:
        answer = interrupt("approve?")
        return {"messages": [HumanMessage(str(answer))]}

    builder = StateGraph(ReviewState)
    builder.add_node("writer", writer)
    builder.add_node("review", review)
    builder.add_edge(START, "writer")
    builder.add_edge("writer", "review")
    builder.add_conditional_edges(
        "review", lambda s: END if s["round"] >= 3 else "writer", ["writer", END]
    )
    return builder.compile(checkpointer=saver)


async def test_pending_review_and_forks_are_kept(durable_url: str) -> None:
    """A checkpoint waiting for a human and a fork's ancestors survive keep-last 1."""
    async with open_checkpointer(durable_url) as saver:
        graph = review_graph(saver)
        config = _config("review")
        await graph.ainvoke({"messages": [], "round": 0}, config)
        await graph.ainvoke(Command(resume="fine"), config)  # second draft, waits again
        history = [s async for s in graph.aget_state_history(config)]
        waiting = history[0]
        assert waiting.interrupts and waiting.next == ("review",)
        fork_point = history[3]
        forked = await graph.aupdate_state(fork_point.config, {"round": 2})
        report = await prune_checkpoints(saver, keep_last=1, thread_id="review")
        still_waiting = await graph.aget_state(waiting.config)
        fork_tip = await graph.aget_state(forked)
        remaining = {
            s.config["configurable"]["checkpoint_id"]
            async for s in graph.aget_state_history(config)
        }
        done = await graph.ainvoke(Command(resume="ok"), waiting.config)
    assert still_waiting.next == ("review",) and still_waiting.interrupts
    assert fork_tip.values["round"] == 2
    assert fork_point.config["configurable"]["checkpoint_id"] in remaining
    assert report.kept >= 3
    assert done["round"] == 3 and len(done["messages"]) >= 5
