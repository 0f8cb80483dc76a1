"""Checkpoint growth: bytes of SQLite checkpoints after N rounds, copydesk vs bare LangGraph.

Both graphs exchange the same 500-character messages (a writer/editor loop, two messages a
round) on an `AsyncSqliteSaver` with the strict serializer and `durability="sync"`. Bytes
are the checkpoint rows plus pending writes (`length()` summed in SQLite), i.e. what the
database has to store, not its file size with free pages.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.agents.team import Agents
from copydesk.graphs.topologies.turn_taking import build
from copydesk.memory.checkpoint import open_checkpointer
from tests.fakes.writing import ScriptedChatModel, verdict_json

TEXT = ("The harbour wakes before the town does; " * 13)[:500]


class BareState(TypedDict):
    """A bare chat state: the message list LangGraph's docs start from."""

    messages: Annotated[list[AnyMessage], add_messages]
    round: int


def bare_graph(checkpointer: Any, rounds: int) -> Any:
    """Writer and editor nodes that each add one 500-char message."""

    def writer(state: BareState) -> dict[str, Any]:
        return {"messages": [AIMessage(TEXT, name="writer")], "round": state["round"] + 1}

    def editor(state: BareState) -> dict[str, Any]:
        return {"messages": [AIMessage(TEXT, name="editor")]}

    builder = StateGraph(BareState)
    builder.add_node("writer", writer)
    builder.add_node("editor", editor)
    builder.add_edge(START, "writer")
    builder.add_edge("writer", "editor")
    builder.add_conditional_edges(
        "editor", lambda s: END if s["round"] >= rounds else "writer", ["writer", END]
    )
    return builder.compile(checkpointer=checkpointer)


def stored_bytes(path: Path) -> int:
    """Bytes of checkpoint and write rows in a SQLite checkpoint database."""
    db = sqlite3.connect(path)
    try:
        (checkpoints,) = db.execute(
            "SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints"
        ).fetchone()
        (writes,) = db.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()
        return int(checkpoints) + int(writes)
    finally:
        db.close()


async def measure(kind: str, rounds: int) -> int:
    """Checkpoint bytes after `rounds` rounds of `kind` (`bare` or `copydesk`)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "checkpoints.sqlite"
        async with open_checkpointer(f"sqlite:///{path}") as saver:
            config: Any = {"configurable": {"thread_id": "t"}, "recursion_limit": 10 * rounds}
            if kind == "bare":
                graph = bare_graph(saver, rounds)
                await graph.ainvoke({"messages": [], "round": 0}, config, durability="sync")
            else:
                model = ScriptedChatModel(drafts=[TEXT], verdicts=[verdict_json("revise")])
                settings = ConfigManager(flags={"home": Path(directory), "memory": False})
                agents = Agents.default(settings.settings, client=OpenAIClient(chat_model=model))
                graph = build(agents=agents, checkpointer=saver, max_rounds=rounds)
                await graph.ainvoke({"topic": "harbour", "round": 0}, config, durability="sync")
        return stored_bytes(path)


def table(rounds: list[int]) -> list[dict[str, Any]]:
    """Rows of bytes per graph and round count."""
    rows = []
    for count in rounds:
        bare = asyncio.run(measure("bare", count))
        ours = asyncio.run(measure("copydesk", count))
        rows.append({"rounds": count, "bare": bare, "copydesk": ours, "ratio": bare / ours})
    return rows
