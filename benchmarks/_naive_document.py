"""The peer of the long-document benchmark: a naive loop on bare LangGraph that writes a
document section after section and sends the whole document so far with every call.

The same calls as copydesk's `document` graph makes for one section (draft, review, revision,
review), one after another, then one consistency call over the whole document; each call a
chat completion through the OpenAI SDK with the same task lines the fake server reads
(`Section:`, the fenced draft, `changes:`), so one scripted model answers both.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from openai import AsyncOpenAI

__all__ = ["naive_document"]

_SCHEMAS = {
    "Outline": {"type": "object", "properties": {"title": {"type": "string"}}},
    "Verdict": {"type": "object", "properties": {"decision": {"type": "string"}}},
    "Findings": {"type": "object", "properties": {"findings": {"type": "array"}}},
}


class NaiveState(TypedDict, total=False):
    """The document so far and where the loop stands."""

    outline: list[str]
    done: list[str]
    index: int
    draft: str
    feedback: str
    reviews: int


async def naive_document(base_url: str, topic: str, sections: int) -> None:
    """Write a `sections`-section document on `topic` through the server at `base_url`."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    async def ask(task: str, schema: str = "") -> str:
        extra: dict[str, Any] = {}
        if schema:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema, "schema": _SCHEMAS[schema]},
            }
        reply = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You write and review a long document."},
                {"role": "user", "content": task},
            ],
            **extra,
        )
        return reply.choices[0].message.content or ""

    def whole(state: NaiveState) -> str:
        return "\n\n".join(state.get("done") or []) or "(nothing yet)"

    async def outline(state: NaiveState) -> NaiveState:
        text = await ask(f"Topic: {topic}\nSections: {sections}\n\nPlan the document.", "Outline")
        headings = [s["heading"] for s in json.loads(text)["sections"]]
        return {"outline": headings, "done": [], "index": 0, "reviews": 0}

    async def write(state: NaiveState) -> NaiveState:
        heading = state["outline"][state["index"]]
        task = f"Topic: {topic}\nSection: {heading}\n\nThe document so far:\n{whole(state)}\n\n"
        if state.get("draft"):
            task += f"Your current draft:\n<<<\n{state['draft']}\n>>>\n\nchanges:\n"
            task += state.get("feedback", "")
        return {"draft": await ask(task + "\nWrite the section.")}

    async def review(state: NaiveState) -> NaiveState:
        heading = state["outline"][state["index"]]
        task = (
            f"Topic: {topic}\nSection: {heading}\n\nThe document so far:\n{whole(state)}\n\n"
            f"<<<\n{state['draft']}\n>>>\n\nReview the section."
        )
        verdict = json.loads(await ask(task, "Verdict"))
        if verdict["decision"] == "approve":
            done = [*(state.get("done") or []), f"## {heading}\n\n{state['draft']}"]
            return {"done": done, "index": state["index"] + 1, "draft": "", "reviews": 0}
        issues = "\n".join(f"- {i['comment']}" for i in verdict.get("issues") or [])
        return {"feedback": issues, "reviews": state.get("reviews", 0) + 1}

    def after_review(state: NaiveState) -> str:
        return "write" if state["index"] < len(state["outline"]) else "consistency"

    async def consistency(state: NaiveState) -> NaiveState:
        await ask(f"Topic: {topic}\n\n{whole(state)}\n\nFind what does not agree.", "Findings")
        return {}

    builder = StateGraph(NaiveState)
    for name, node in (("outline", outline), ("write", write), ("review", review)):
        builder.add_node(name, node)
    builder.add_node("consistency", consistency)
    builder.add_edge(START, "outline")
    builder.add_edge("outline", "write")
    builder.add_edge("write", "review")
    builder.add_conditional_edges("review", after_review, ["write", "consistency"])
    builder.add_edge("consistency", END)
    try:
        await builder.compile().ainvoke({}, {"recursion_limit": 10 * sections + 10})
    finally:
        await client.close()
