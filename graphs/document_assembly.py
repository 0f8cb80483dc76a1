"""How a long document is put together: a section's body (without a heading its writer
put first), the whole document in Markdown with the list of the sources it cites, and the
node that assembles it as the thread's draft."""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from copydesk.agents.chatbot import message_id
from copydesk.agents.document import DocumentState
from copydesk.agents.state import Revision, Status
from copydesk.memory.sources import SourceRecord, citations

__all__ = [
    "ASSEMBLE",
    "assemble",
    "body_of",
    "document_markdown",
    "references",
    "section_body",
]

ASSEMBLE = "assemble"


def section_body(text: str) -> str:
    """A section's text without a heading line the writer may have put first (the
    document gives each section its own), its other headings nested under the section's
    (`#` and `##` become `###`), so the document's `## ` headings are its sections."""
    lines = text.strip().splitlines()
    if lines and re.match(r"^#{1,6}\s", lines[0]):
        lines = lines[1:]
    return "\n".join(re.sub(r"^#{1,2}(?=\s)", "###", line) for line in lines).strip()


def body_of(revision: Revision) -> Revision:
    """`revision` with its text as `section_body` gives it."""
    return {
        "round": revision["round"],
        "author": revision["author"],
        "text": section_body(revision["text"]),
    }


def references(text: str, sources: list[SourceRecord]) -> str:
    """The reference list of the given sources `text` cites, in number order ("" if none)."""
    cited = {c["number"] for c in citations(text)}
    listed = [f"[{s['number']}] {s['name']}" for s in sources if s["number"] in cited]
    return "## References\n\n" + "\n".join(listed) if listed else ""


def document_markdown(state: DocumentState) -> str:
    """The whole document: the title, each section under its heading, then the references."""
    parts = [f"# {state['outline']['title']}"]
    for section in state.get("sections") or []:
        parts += [f"## {section['heading']}", section["text"]]
    body = "\n\n".join(parts)
    cited = references(body, state.get("sources") or [])
    return "\n\n".join([body, cited] if cited else [body]) + "\n"


async def assemble(state: DocumentState, config: RunnableConfig) -> DocumentState:
    """The sections put together as one Markdown document: the thread's draft."""
    text = document_markdown(state)
    sections = state.get("sections") or []
    approved = sum(s["status"] in ("approved", "revised") for s in sections)
    status: Status = "approved" if sections and approved == len(sections) else "completed"
    ended_by = "assembled"
    spent = [s.get("ended_by", "token_budget") for s in sections if s["status"] == "over_budget"]
    if spent or state.get("status") == "over_budget":  # the budget ended a section's loop
        status, ended_by = "over_budget", spent[0] if spent else state.get("ended_by", "")
    round_ = state.get("round", 0) + 1
    said = f"Assembled {len(sections)} section(s), {approved} approved, {len(text.split())} words."
    return {
        "messages": [AIMessage(said, name=ASSEMBLE, id=message_id(config, round_, ASSEMBLE))],
        "draft": text,
        "revisions": [{"round": round_, "author": ASSEMBLE, "text": text}],
        "round": round_,
        "status": status,
        "ended_by": ended_by,
    }
