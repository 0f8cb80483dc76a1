"""Bare LangGraph writer <-> editor loop: ChatOpenAI (streaming) + AsyncSqliteSaver.

    python langgraph_loop.py --rounds R --conversations N --workdir DIR

A `StateGraph` with a writer node and an editor node; the editor's reply is a typed
`Verdict` (`with_structured_output`, JSON schema); a conditional edge sends the draft back
until the editor approves or the rounds are used up. Every conversation is one thread on one
shared SQLite checkpointer, consumed with `astream(stream_mode="messages")` as a UI would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypedDict

from _common import (
    EDITOR_PROMPT,
    MODEL,
    WRITER_PROMPT,
    Verdict,
    api_settings,
    parse_args,
    report,
    revision_request,
    topics,
)
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    """One conversation: the topic, the latest draft and verdict, the rounds used."""

    topic: str
    max_rounds: int
    round: int
    draft: str
    verdict: dict[str, Any]


def build(llm: ChatOpenAI, checkpointer: AsyncSqliteSaver) -> Any:
    """Compile the writer <-> editor graph."""
    judge = llm.with_structured_output(Verdict, method="json_schema")

    async def writer(state: State) -> State:
        if "verdict" in state:
            task = revision_request(
                state["topic"], state["draft"], Verdict.model_validate(state["verdict"])
            )
        else:
            task = f"Topic: {state['topic']}"
        reply = await llm.ainvoke([SystemMessage(WRITER_PROMPT), HumanMessage(task)])
        return {"draft": str(reply.content), "round": state.get("round", 0) + 1}

    async def editor(state: State) -> State:
        task = f"Topic: {state['topic']}\n\nDraft:\n{state['draft']}"
        verdict = await judge.ainvoke([SystemMessage(EDITOR_PROMPT), HumanMessage(task)])
        assert isinstance(verdict, Verdict)
        return {"verdict": verdict.model_dump()}

    def route(state: State) -> str:
        done = state["verdict"]["decision"] == "approve" or state["round"] >= state["max_rounds"]
        return END if done else "writer"

    builder = StateGraph(State)
    builder.add_node("writer", writer)
    builder.add_node("editor", editor)
    builder.add_edge(START, "writer")
    builder.add_edge("writer", "editor")
    builder.add_conditional_edges("editor", route, ["writer", END])
    return builder.compile(checkpointer=checkpointer)


async def main() -> None:
    args = parse_args("langgraph_loop")
    base_url, api_key = api_settings()
    llm = ChatOpenAI(model=MODEL, base_url=base_url, api_key=api_key, streaming=True)
    path = Path(args.workdir) / "langgraph.sqlite"
    async with AsyncSqliteSaver.from_conn_string(str(path)) as checkpointer:
        graph = build(llm, checkpointer)

        async def one(number: int, topic: str) -> bool:
            config = {"configurable": {"thread_id": f"thread-{number}"}}
            inputs: State = {"topic": topic, "max_rounds": args.rounds}
            async for _chunk in graph.astream(inputs, config, stream_mode="messages"):
                pass
            state = await graph.aget_state(config)
            return bool(state.values.get("round") == args.rounds)

        done = await asyncio.gather(*(one(n, t) for n, t in enumerate(topics(args.conversations))))
    report(args.conversations, args.rounds, sum(done))


if __name__ == "__main__":
    asyncio.run(main())
