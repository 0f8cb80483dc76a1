"""Delta channels on the strict serializer: snapshots round-trip, and pruning may drop
what lies behind a snapshot but nothing a replay still needs."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.channels import DeltaChannel
from langgraph.graph import END, START, StateGraph

from copydesk.agents.state import append_messages
from copydesk.memory.checkpoint import open_checkpointer
from copydesk.memory.prune import prune_checkpoints


class CountingState(TypedDict):
    messages: Annotated[list[AnyMessage], DeltaChannel(append_messages, snapshot_frequency=2)]
    n: int


def counting_graph(saver: Any, steps: int) -> Any:
    def node(state: CountingState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"m{state['n']}")], "n": state["n"] + 1}

    builder = StateGraph(CountingState)
    builder.add_node("step", node)
    builder.add_edge(START, "step")
    builder.add_conditional_edges(
        "step", lambda s: END if s["n"] >= steps else "step", ["step", END]
    )
    return builder.compile(checkpointer=saver)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cp.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def test_snapshots_survive_a_reopen_and_bound_pruning(durable_url: str) -> None:
    """Every second update writes a snapshot; after a reopen the state is whole; pruning
    to the newest checkpoint (a snapshot) drops the rest and the state is still whole."""
    config: Any = {"configurable": {"thread_id": "snap"}}
    async with open_checkpointer(durable_url) as saver:
        await counting_graph(saver, 7).ainvoke({"messages": [], "n": 0}, config)
    async with open_checkpointer(durable_url) as saver:
        graph = counting_graph(saver, 7)
        before = (await graph.aget_state(config)).values["messages"]
        report = await prune_checkpoints(saver, keep_last=1, delta_keys=("messages",))
        after = (await graph.aget_state(config)).values["messages"]
    assert [m.text for m in before] == [f"m{i}" for i in range(7)]
    assert report.kept == 1 and report.removed >= 7 and report.bytes_freed > 0
    assert [m.text for m in after] == [m.text for m in before]


async def test_pruning_keeps_the_chain_back_to_a_snapshot(durable_url: str) -> None:
    """Keeping a checkpoint without a snapshot keeps its ancestors back to the last one."""
    config: Any = {"configurable": {"thread_id": "chain"}}
    async with open_checkpointer(durable_url) as saver:
        graph = counting_graph(saver, 6)  # newest checkpoint (step 6) has no snapshot
        await graph.ainvoke({"messages": [], "n": 0}, config)
        report = await prune_checkpoints(saver, keep_last=1, delta_keys=("messages",))
        state = (await graph.aget_state(config)).values["messages"]
    assert report.kept == 2  # the newest and its parent, which holds a snapshot
    assert [m.text for m in state] == [f"m{i}" for i in range(6)]
