"""Long document: an outline, every section written and reviewed at once, assembled, read
for consistency, and the sections a finding quotes revised once.

                              +--> section 1 --+
START -> sources -> outliner -+--> section 2 --+--> assemble -> consistency -+--> END (no findings)
                              +--> section N --+                             |
                                                 +----------------------------+
                                                 +--> revise i --+
                                                 +--> revise j --+--> reassemble --> END

Each section is its own writer <-> editor loop: the `turn_taking` graph, with its endings,
run as a subgraph on a `SectionState`. The fan-out is LangGraph `Send`, so the sections'
calls run at once through the one client and its limiter. A section's prompts carry the
outline, short summaries of its neighbours and its own brief, never the whole document, so
a document many times one context window is written in prompts that each fit. With
sources (`--source`), their passages are first put in the memory store under the thread,
a section's prompt carries the passages relevant to its brief, its writer cites them as
`[n]`, and every verdict checks the citations by wording and meaning
(`copydesk.agents.sections`). The final draft is the whole document in Markdown, a heading
per section, ending with the list of the sources actually cited.

The consistency pass then reads the document in pieces that fit the window: two
neighbouring sections at a time, all pairs at once, and, when the whole document does not
fit one prompt, a digest of each section's claims, the digests compared group by group;
and it checks each outline key point against the sections
(`copydesk.agents.consistency_pass`). Its findings are anchored to quoted passages of named
sections. Each finding goes back as an issue to the sections it quotes, whose writers revise
once; every other section stays as it was, byte for byte.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Send

from copydesk.agents.chatbot import message_id
from copydesk.agents.consistency import ConsistencyEditor, issues_for
from copydesk.agents.consistency_pass import ConsistencyPass
from copydesk.agents.digests import DigestComparer, SectionDigester
from copydesk.agents.document import (
    DocumentState,
    SectionBrief,
    SectionRecord,
    SectionState,
    neighbours_text,
    outline_text,
)
from copydesk.agents.outline import Outliner
from copydesk.agents.sections import SectionEditor, SectionWriter, citation_issues, thread_of
from copydesk.agents.state import Revision, Status, VerdictRecord
from copydesk.agents.team import Agents
from copydesk.graphs.termination import DEFAULT_ENDINGS, DEFAULT_MAX_ROUNDS, Ending
from copydesk.graphs.topologies import turn_taking
from copydesk.memory.sources import SourceRecord, citations, relevant_passages
from copydesk.memory.support import shelve

__all__ = [
    "ASSEMBLE",
    "CONSISTENCY",
    "DESCRIPTION",
    "NAME",
    "OUTLINER",
    "REASSEMBLE",
    "REVISE",
    "SECTION",
    "SOURCES",
    "SectionDesk",
    "SectionReviser",
    "assemble",
    "build",
    "graph",
    "to_revisions",
    "to_sections",
]

NAME = "document"
DESCRIPTION = "Outline; each section its own writer <-> editor loop, all at once; consistency."
SOURCES, OUTLINER, SECTION, ASSEMBLE = "sources", "outliner", "section", "assemble"
CONSISTENCY, REVISE, REASSEMBLE = "consistency", "revise", "reassemble"
SECTION_WRITER, SECTION_EDITOR = "section_writer", "section_editor"
PASSAGES = 4
"""Source passages a section's prompt carries at most."""


def section_body(text: str) -> str:
    """A section's text without a heading line the writer may have put first (the
    document gives each section its own), its other headings nested under the section's
    (`#` and `##` become `###`), so the document's `## ` headings are its sections."""
    lines = text.strip().splitlines()
    if lines and re.match(r"^#{1,6}\s", lines[0]):
        lines = lines[1:]
    return "\n".join(re.sub(r"^#{1,2}(?=\s)", "###", line) for line in lines).strip()


def _body_of(revision: Revision) -> Revision:
    return {
        "round": revision["round"],
        "author": revision["author"],
        "text": section_body(revision["text"]),
    }


@dataclass(frozen=True)
class SectionDesk:
    """Runs one section's writer <-> editor loop as a subgraph and reports the section.

    Attributes:
        loop: The compiled `turn_taking` graph on `SectionState` (no checkpointer of its
            own: it checkpoints under the document's thread, in its own namespace).
    """

    loop: CompiledStateGraph[Any, Any, Any, Any]

    async def __call__(self, state: SectionState, config: RunnableConfig) -> DocumentState:
        """Write and review the section to its loop's end."""
        brief = state["section"]
        done = await self.loop.ainvoke(state, config)
        verdicts = done.get("verdicts") or []
        status = str(done.get("status", "completed"))
        record: SectionRecord = {
            "index": brief["index"],
            "heading": brief["heading"],
            "text": section_body(str(done.get("draft", ""))),
            "rounds": int(done.get("round", 0)),
            "status": status,
            "issues": list(verdicts[-1]["issues"]) if verdicts and status != "approved" else [],
            "revisions": [_body_of(r) for r in done.get("revisions") or []],
            "verdicts": list(verdicts),
        }
        rounds = record["rounds"]
        said = f"Section {brief['index']} ({brief['heading']}): {status} after {rounds} round(s)."
        name = f"{SECTION}_{brief['index']}"
        return {
            "sections": [record],
            "messages": [AIMessage(said, name=SECTION, id=message_id(config, 0, name))],
            "usage": done.get("usage") or {},
            "prompts": done.get("prompts") or {},
        }


@dataclass(frozen=True)
class SectionReviser:
    """Revises one section once to answer the consistency findings that quote it.

    Attributes:
        writer: The sections' writer.
    """

    writer: SectionWriter

    async def __call__(
        self,
        state: SectionState,
        config: RunnableConfig,
        *,
        store: Optional[BaseStore] = None,  # noqa: UP045  (LangGraph injects only this spelling)
    ) -> DocumentState:
        """One revision of the section; its citations checked again."""
        brief = state["section"]
        done = await self.writer(state, config)
        text = section_body(str(done.get("draft", "")))
        sources = state.get("sources") or []
        revision = _body_of((done.get("revisions") or [])[-1])
        record: SectionRecord = {
            "index": brief["index"],
            "heading": brief["heading"],
            "text": text,
            "rounds": int(done.get("round", 0)),
            "status": "revised",
            "issues": await citation_issues(
                text, sources, store=store, thread_id=thread_of(config)
            ),
            "revisions": [*(state.get("revisions") or []), revision],
            "verdicts": list(state.get("verdicts") or []),
        }
        said = f"Section {brief['index']} ({brief['heading']}) revised for consistency."
        name = f"{REVISE}_{brief['index']}"
        return {
            "sections": [record],
            "messages": [AIMessage(said, name=REVISE, id=message_id(config, 0, name))],
            "usage": done.get("usage") or {},
            "prompts": done.get("prompts") or {},
        }


async def shelve_sources(
    state: DocumentState,
    config: RunnableConfig,
    *,
    store: Optional[BaseStore] = None,  # noqa: UP045  (LangGraph injects only this spelling)
) -> DocumentState:
    """Put the sources' passages in the memory store under the thread, where the citation
    check searches them (nothing to do without sources or without a store)."""
    sources = state.get("sources") or []
    if store is None or not sources:
        return {}
    items = await shelve(store, thread_of(config), sources)
    said = f"{len(sources)} source(s) in memory: {items} passage(s) and sentence(s) to cite."
    return {"messages": [AIMessage(said, name=SOURCES, id=message_id(config, 0, SOURCES))]}


def section_passages(sources: list[SourceRecord], brief: SectionBrief) -> str:
    """The source passages relevant to a section's brief, one a line as `[n] passage`."""
    query = " ".join([brief["heading"], brief["purpose"], *brief["key_points"]])
    return "\n".join(f"[{n}] {p}" for n, p in relevant_passages(sources, query, PASSAGES))


def section_state(state: DocumentState, brief: SectionBrief) -> SectionState:
    """What a section's writer and editor see: the outline, its neighbours' briefs, its own
    brief and its sources' relevant passages."""
    outline = state["outline"]
    section = SectionState(
        topic=state.get("topic", ""),
        section=brief,
        outline_text=outline_text(outline),
        neighbours=neighbours_text(outline, brief["index"]),
        max_rounds=state.get("max_rounds", DEFAULT_MAX_ROUNDS),
        round=0,
    )
    sources = state.get("sources") or []
    if sources:
        section |= {"passages": section_passages(sources, brief), "sources": sources}
    return section


def to_sections(state: DocumentState) -> list[Send]:
    """One `Send` per section of the outline, each with its bounded context."""
    return [Send(SECTION, section_state(state, b)) for b in state["outline"]["sections"]]


def to_revisions(state: DocumentState) -> list[Send] | str:
    """One `Send` per section a consistency finding quotes, its findings as the issues of a
    verdict; END when there is none."""
    findings = state.get("findings") or []
    quoted = {q["section"] for f in findings for q in f["quotes"]}
    briefs = {b["index"]: b for b in state["outline"]["sections"]}
    sends = []
    for record in state.get("sections") or []:
        if record["index"] not in quoted:
            continue
        verdict: VerdictRecord = {
            "round": record["rounds"],
            "agent": CONSISTENCY,
            "decision": "revise",
            "issues": issues_for(record["index"], findings),
            "summary": "Make this section consistent with its neighbours.",
        }
        section = section_state(state, briefs[record["index"]])
        section |= {
            "draft": record["text"],
            "round": record["rounds"],
            "max_rounds": record["rounds"] + 1,
            "revisions": record.get("revisions") or [],
            "verdicts": [*(record.get("verdicts") or []), verdict],
        }
        sends.append(Send(REVISE, section))
    return sends or END


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
    round_ = state.get("round", 0) + 1
    said = f"Assembled {len(sections)} section(s), {approved} approved, {len(text.split())} words."
    return {
        "messages": [AIMessage(said, name=ASSEMBLE, id=message_id(config, round_, ASSEMBLE))],
        "draft": text,
        "revisions": [{"round": round_, "author": ASSEMBLE, "text": text}],
        "round": round_,
        "status": status,
        "ended_by": "assembled",
    }


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = DEFAULT_ENDINGS,
) -> CompiledStateGraph[DocumentState, None, DocumentState, DocumentState]:
    """Compile the document graph. Leave `checkpointer` None under LangGraph Server.

    Args:
        agents: The cast; the outliner and the sections' writer and editor are made on its
            client.
        checkpointer: Where checkpoints go (the sections' loops checkpoint there too).
        store: Long-term memory store.
        max_rounds: Drafts per section when the input does not say.
        endings: What ends each section's loop, checked after each verdict.
    """
    agents = agents or Agents.default()
    writer = agents.chatbot(SectionWriter, SECTION_WRITER, "writes one section")
    editor = agents.chatbot(SectionEditor, SECTION_EDITOR, "reviews one section")
    cast = dataclasses.replace(agents, writer=writer, editor=editor)
    loop = turn_taking.build(
        agents=cast, store=store, max_rounds=max_rounds, endings=endings, schema=SectionState
    )
    consistency = ConsistencyPass(
        agents.chatbot(ConsistencyEditor, "consistency_editor", "reads neighbouring sections"),
        agents.chatbot(SectionDigester, "section_digester", "lists a section's claims"),
        agents.chatbot(DigestComparer, "digest_comparer", "compares the sections' claims"),
    )
    builder = StateGraph(DocumentState)
    builder.add_node(OUTLINER, agents.chatbot(Outliner, "document_outliner", "plans the document"))
    builder.add_node(SECTION, SectionDesk(loop))
    builder.add_node(ASSEMBLE, assemble)
    builder.add_node(CONSISTENCY, consistency)
    builder.add_node(REVISE, SectionReviser(writer))
    builder.add_node(REASSEMBLE, assemble)
    builder.add_node(SOURCES, shelve_sources)
    builder.add_edge(START, SOURCES)
    builder.add_edge(SOURCES, OUTLINER)
    builder.add_conditional_edges(OUTLINER, to_sections, [SECTION])
    builder.add_edge(SECTION, ASSEMBLE)
    builder.add_edge(ASSEMBLE, CONSISTENCY)
    builder.add_conditional_edges(CONSISTENCY, to_revisions, [REVISE, END])
    builder.add_edge(REVISE, REASSEMBLE)
    builder.add_edge(REASSEMBLE, END)
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
