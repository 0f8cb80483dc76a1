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

With `--review outline|sections|final` a person is asked at those points
(`copydesk.graphs.document_review`): `outline_review` after the outliner (feedback goes
back to it), each section's loop's own `human_review`, and `final_review` where the
document would end (feedback goes to the sections it quotes: revise -> reassemble ->
final_review again).
"""

from __future__ import annotations

import dataclasses
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

from copydesk.agents.budgets import budget_ended, section_budget
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
from copydesk.agents.state import IssueRecord, VerdictRecord
from copydesk.agents.style_sheet import (
    facts_for,
    facts_text,
    still_stated,
    style_rules,
    style_sheet_text,
)
from copydesk.agents.team import Agents
from copydesk.graphs.document_assembly import (
    ASSEMBLE,
    assemble,
    body_of,
    section_body,
)
from copydesk.graphs.document_review import (
    FINAL_REVIEW,
    OUTLINE_REVIEW,
    final_review,
    outline_review,
    review_points,
)
from copydesk.graphs.review import HUMAN
from copydesk.graphs.termination import DEFAULT_ENDINGS, DEFAULT_MAX_ROUNDS, Ending
from copydesk.graphs.topologies import turn_taking
from copydesk.memory.sources import SourceRecord, relevant_passages
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
    "after_document",
    "after_outline",
    "assemble",
    "build",
    "graph",
    "revision_sends",
    "to_revisions",
    "to_sections",
]

NAME = "document"
DESCRIPTION = "Outline; each section its own writer <-> editor loop, all at once; consistency."
SOURCES, OUTLINER, SECTION = "sources", "outliner", "section"
CONSISTENCY, REVISE, REASSEMBLE = "consistency", "revise", "reassemble"
SECTION_WRITER, SECTION_EDITOR = "section_writer", "section_editor"
PASSAGES = 4
"""Source passages a section's prompt carries at most."""


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
            "revisions": [body_of(r) for r in done.get("revisions") or []],
            "verdicts": list(verdicts),
            **budget_ended(done),
        }
        rounds = record["rounds"]
        said = f"Section {brief['index']} ({brief['heading']}): {status} after {rounds} round(s)."
        name = f"{SECTION}_{brief['index']}"
        update: DocumentState = {
            "sections": [record],
            "messages": [AIMessage(said, name=SECTION, id=message_id(config, 0, name))],
            "usage": done.get("usage") or {},
            "prompts": done.get("prompts") or {},
        }
        return update | _notes(brief["index"], done.get("section_notes"))


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
        text = section_body(str(done.get("draft") or state.get("draft", "")))  # budget: as was
        revised = [body_of(r) for r in done.get("revisions") or []][-1:]
        record: SectionRecord = {
            "index": brief["index"],
            "heading": brief["heading"],
            "text": text,
            "rounds": int(done.get("round", state.get("round", 0))),
            "status": "over_budget" if budget_ended(done) else "revised",
            "issues": await citation_issues(
                text, state.get("sources") or [], store=store, thread_id=thread_of(config)
            ),
            "revisions": [*(state.get("revisions") or []), *revised],
            "verdicts": list(state.get("verdicts") or []),
            **budget_ended(done),
        }
        verdicts = state.get("verdicts") or []
        asked = verdicts[-1]["agent"] if verdicts else ""
        why = "the human reviewer's feedback" if asked == HUMAN else "consistency"
        said = f"Section {brief['index']} ({brief['heading']}) revised for {why}."
        name = f"{REVISE}_{brief['index']}"
        update: DocumentState = {
            "sections": [record],
            "messages": [AIMessage(said, name=REVISE, id=message_id(config, 0, name))],
            "usage": done.get("usage") or {},
            "prompts": done.get("prompts") or {},
        }
        noted = state.get("section_notes") or {}
        style, facts = still_stated(text, noted.get("style") or [], noted.get("facts") or [])
        return update | _notes(brief["index"], {"style": style, "facts": facts})


def _notes(index: int, notes: dict[str, Any] | None) -> DocumentState:
    """A section's entries of the style sheet and the fact ledger, as a state update."""
    if notes is None:
        return {}
    key = str(index)
    return {"style_sheet": {key: notes["style"]}, "fact_ledger": {key: notes["facts"]}}


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


def section_state(state: DocumentState, brief: SectionBrief, text: str = "") -> SectionState:
    """What a section's writer and editor see: the outline, its neighbours' briefs, its own
    brief, its sources' relevant passages, the style sheet and the ledger entries that
    concern it (by its brief and its current `text`)."""
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
    facts = facts_for(state.get("fact_ledger"), brief, text)
    section |= {
        "style_sheet_text": style_sheet_text(state.get("style_sheet")),
        "facts_text": facts_text(facts),
    }
    section |= section_budget(state)  # one budget for the whole document
    if "sections" in review_points(state):  # its loop pauses for a human, as turn_taking's
        about = {
            "stage": "section",
            "section": {"index": brief["index"], "heading": brief["heading"]},
            "style_sheet": style_rules(state.get("style_sheet")),
            "facts": facts,
        }
        section |= {"review": True, "review_about": about}
    return section


def to_sections(state: DocumentState) -> list[Send]:
    """One `Send` per section of the outline, each with its bounded context."""
    outline = state.get("outline")  # none: the budget refused the outliner
    return [Send(SECTION, section_state(state, b)) for b in outline["sections"]] if outline else []


def revision_sends(
    state: DocumentState, targets: dict[int, list[IssueRecord]], verdict: VerdictRecord
) -> list[Send]:
    """One `Send` per section in `targets`, its issues as the issues of `verdict` (whose
    agent and summary say who asked), for its writer to revise it once."""
    briefs = {b["index"]: b for b in state["outline"]["sections"]}
    sends = []
    for record in state.get("sections") or []:
        if record["index"] not in targets:
            continue
        asked: VerdictRecord = {
            **verdict,
            "round": record["rounds"],
            "issues": targets[record["index"]],
        }
        section = section_state(state, briefs[record["index"]], record["text"])
        key = str(record["index"])
        notes = {
            "style": (state.get("style_sheet") or {}).get(key) or [],
            "facts": (state.get("fact_ledger") or {}).get(key) or [],
        }
        section |= {
            "section_notes": notes,
            "draft": record["text"],
            "round": record["rounds"],
            "max_rounds": record["rounds"] + 1,
            "revisions": record.get("revisions") or [],
            "verdicts": [*(record.get("verdicts") or []), asked],
        }
        sends.append(Send(REVISE, section))
    return sends


def after_document(state: DocumentState) -> str:
    """Where the assembled document goes: to the human when `final` review is asked, else END."""
    return FINAL_REVIEW if "final" in review_points(state) else END


def after_outline(state: DocumentState) -> list[Send] | str:
    """Where the outline goes: to the human when `outline` review is asked, else to the
    sections."""
    return OUTLINE_REVIEW if "outline" in review_points(state) else to_sections(state)


def to_revisions(state: DocumentState) -> list[Send] | str:
    """One `Send` per section a consistency finding quotes, its findings as the issues of a
    verdict; when there is none, on to `after_document`."""
    findings = state.get("findings") or []
    quoted = {q["section"] for f in findings for q in f["quotes"]}
    verdict: VerdictRecord = {
        "round": 0,
        "agent": CONSISTENCY,
        "decision": "revise",
        "issues": [],
        "summary": "Make this section consistent with its neighbours.",
    }
    targets = {index: issues_for(index, findings) for index in sorted(quoted)}
    return revision_sends(state, targets, verdict) or after_document(state)


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
    builder.add_node(
        OUTLINE_REVIEW, outline_review(to_sections, OUTLINER), destinations=(SECTION, OUTLINER)
    )
    builder.add_node(FINAL_REVIEW, final_review(revision_sends), destinations=(REVISE, END))
    builder.add_conditional_edges(OUTLINER, after_outline, [OUTLINE_REVIEW, SECTION])
    builder.add_edge(SECTION, ASSEMBLE)
    builder.add_edge(ASSEMBLE, CONSISTENCY)
    builder.add_conditional_edges(CONSISTENCY, to_revisions, [REVISE, FINAL_REVIEW, END])
    builder.add_edge(REVISE, REASSEMBLE)
    builder.add_conditional_edges(REASSEMBLE, after_document, [FINAL_REVIEW, END])
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
