"""CPU per turn: copydesk's turn-taking graph against a bare LangGraph graph.

Both graphs run the same writer/editor loop against the same in-process fake chat model
(no network, no sleeping), with the same `AsyncSqliteSaver` and durability, in one process.
copydesk's turn adds prompt rendering, the token-bounded window (tiktoken), the typed verdict
(json_schema binding + pydantic validation), usage accounting and termination checks. The bare
graph appends messages and routes on the verdict's `decision` with an `async def` router.

    python benchmarks/overhead.py [--threads 20] [--rounds 5] [--repeats 5]

Prints a table of microseconds of CPU per turn (a turn is one node: a draft or a verdict)
and the ratio copydesk / bare. Target: ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.agents.team import Agents
from copydesk.graphs.topologies.turn_taking import build
from copydesk.memory.checkpoint import strict_serializer
from tests.fakes.writing import ScriptedChatModel, verdict_json

DRAFT = ("The harbour wakes before the town does. " * 12).strip()
REVISE = verdict_json("revise")


class BareState(TypedDict, total=False):
    """The least a writer <-> editor loop needs."""

    messages: Annotated[list[AnyMessage], add_messages]
    round: int
    decision: str


def bare_graph(model: ScriptedChatModel, saver: AsyncSqliteSaver, max_rounds: int) -> Any:
    """Writer and editor nodes that call the model directly; an async router ends the loop."""
    editor_model = model.bind(response_format={"type": "json_schema"})

    async def writer(state: BareState) -> BareState:
        reply = await model.ainvoke(state["messages"])
        return {"messages": [reply], "round": state.get("round", 0) + 1}

    async def editor(state: BareState) -> BareState:
        reply = await editor_model.ainvoke(state["messages"])
        return {"messages": [reply], "decision": json.loads(reply.text)["decision"]}

    async def route(state: BareState) -> Literal["writer", "__end__"]:
        if state["decision"] == "approve" or state["round"] >= max_rounds:
            return END
        return "writer"

    builder = StateGraph(BareState)
    builder.add_node("writer", writer)
    builder.add_node("editor", editor)
    builder.add_edge(START, "writer")
    builder.add_edge("writer", "editor")
    builder.add_conditional_edges("editor", route)
    return builder.compile(checkpointer=saver)


async def run_many(graph: Any, start: dict[str, Any], threads: int, tag: str) -> tuple[float, int]:
    """CPU seconds and turns for `threads` sequential threads of `graph`."""
    turns = 0
    cpu = time.process_time()
    for i in range(threads):
        config = {"configurable": {"thread_id": f"{tag}-{i}"}, "recursion_limit": 1000}
        async for _ in graph.astream(start, config, stream_mode="updates", durability="sync"):
            turns += 1
    return time.process_time() - cpu, turns


async def measure(threads: int, rounds: int, repeats: int) -> dict[str, list[float]]:
    """Interleaved repeats of both graphs; microseconds of CPU per turn for each."""
    results: dict[str, list[float]] = {"bare LangGraph": [], "copydesk turn_taking": []}
    with tempfile.TemporaryDirectory() as folder:
        settings = ConfigManager(flags={"home": Path(folder)}).settings
        async with AsyncSqliteSaver.from_conn_string(f"{folder}/cp.sqlite") as saver:
            saver.serde = strict_serializer()
            model = ScriptedChatModel(drafts=[DRAFT], verdicts=[REVISE])
            agents = Agents.default(settings, client=OpenAIClient(chat_model=model))
            ours = build(agents=agents, checkpointer=saver, max_rounds=rounds)
            bare = bare_graph(model, saver, rounds)
            topic = "Why harbours matter"
            bare_start = {"messages": [HumanMessage(topic)], "round": 0}
            ours_start = {
                "topic": topic,
                "max_rounds": rounds,
                "round": 0,
                "messages": [HumanMessage(topic, name="user")],
            }
            await run_many(ours, ours_start, 2, "warm-ours")  # imports, tiktoken tables
            await run_many(bare, bare_start, 2, "warm-bare")
            for repeat in range(repeats):
                cpu, turns = await run_many(bare, bare_start, threads, f"bare-{repeat}")
                results["bare LangGraph"].append(cpu / turns * 1e6)
                cpu, turns = await run_many(ours, ours_start, threads, f"ours-{repeat}")
                results["copydesk turn_taking"].append(cpu / turns * 1e6)
    return results


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(measure(args.threads, args.rounds, args.repeats))
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python "
        f"{platform.python_version()}; {args.threads} threads x {args.rounds} rounds "
        f"(= {2 * args.rounds} turns each), {args.repeats} repeats, median"
    )
    print(f"{'graph':<24}{'CPU us/turn':>14}{'min':>10}{'max':>10}")
    medians = {}
    for name, samples in results.items():
        medians[name] = statistics.median(samples)
        print(f"{name:<24}{medians[name]:>14.0f}{min(samples):>10.0f}{max(samples):>10.0f}")
    ratio = medians["copydesk turn_taking"] / medians["bare LangGraph"]
    print(f"ratio copydesk / bare: {ratio:.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
