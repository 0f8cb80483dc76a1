"""A long document as people read it: its outline, where each section stands, each section's
text in the first complete draft and now, and the consistency findings anchored in the
sections they quote. The review page and the Markdown and Word exports draw from it.

It reads a `document` thread's checkpoints and runs no model. A section whose loop is still
running (or paused inside it) has no record in the thread's state yet; its loop checkpoints
under the thread in its own namespace (`section:TASK`), and that checkpoint tells whether
its writer is drafting or its editor reviewing. A section's text in the first complete
draft is cut from the first assembled document, by its heading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copydesk.agents.document import (
    FactRecord,
    OutlineRecord,
    QuoteRecord,
    SectionRecord,
    StyleRecord,
    by_section,
)
from copydesk.agents.state import IssueRecord, Revision, VerdictRecord
from copydesk.graphs.document_assembly import section_body
from copydesk.graphs.reports.issue_tracking import IssueSummary, summarize_thread
from copydesk.graphs.topologies.document import NAME, REVISE, SECTION
from copydesk.memory.sources import SourceRecord, citations

if TYPE_CHECKING:
    from copydesk.graphs.manager import ConversationManager

__all__ = [
    "DocumentView",
    "FindingView",
    "SectionView",
    "document_view",
    "load_document",
    "split_sections",
]

LABELS = {
    "in_review": "in review",
    "waiting_for_review": "waiting for review",
    "revised": "approved, revised for consistency",
    "revising": "revising for consistency",
}
"""How a section's state reads (others: underscores as spaces)."""


@dataclass(frozen=True)
class SectionView:
    """One section of the outline and where it stands."""

    index: int
    heading: str
    purpose: str
    key_points: list[str]
    words: int
    """Its target length."""
    state: str
    """`planned`, `drafting`, `in_review`, `waiting_for_review`, `revising`, `approved`,
    `revised` (approved, then revised once for consistency) or how its loop ended
    (`out_of_rounds`, ...)."""
    rounds: int
    text: str
    """Its text now ("" before its first draft)."""
    first: str | None
    """Its text in the first complete draft (None before there is one, or when the section
    was not in it)."""
    issues: list[IssueRecord] = field(default_factory=list)
    """Its editor's issues still open."""
    drafts: list[Revision] = field(default_factory=list)
    """Its drafts, oldest first: its loop's, then its revision for consistency."""
    verdicts: list[VerdictRecord] = field(default_factory=list)
    """The verdicts on it, oldest first: its editor's, the consistency pass's."""

    @property
    def label(self) -> str:
        """Its state as people read it (`in review`, `approved, revised for consistency`)."""
        return LABELS.get(self.state, self.state.replace("_", " "))

    @property
    def changed(self) -> bool:
        """Whether its text moved since the first complete draft."""
        return self.first is not None and self.first != self.text


@dataclass(frozen=True)
class FindingView:
    """One consistency finding, numbered from 1, with the passages it quotes."""

    number: int
    kind: str
    comment: str
    quotes: list[QuoteRecord]

    @property
    def sections(self) -> list[int]:
        """The sections it quotes, in document order."""
        return sorted({q["section"] for q in self.quotes})


@dataclass(frozen=True)
class DocumentView:
    """Everything the page and the exports show of a long document."""

    title: str
    sections: list[SectionView]
    findings: list[FindingView]
    references: list[SourceRecord]
    """The given sources the document cites, in number order."""
    markdown: str
    """The whole document as last assembled ("" before the first assembly)."""
    summary: IssueSummary
    """Its issues (every section's and every finding's) counted by state."""
    style_sheet: list[StyleRecord] = field(default_factory=list)
    """Its terms, spellings, voice, tense and number style, in section order."""
    fact_ledger: list[FactRecord] = field(default_factory=list)
    """Its claims with a number, name or date, in section order."""

    def findings_in(self, index: int) -> list[FindingView]:
        """The findings that quote section `index`."""
        return [f for f in self.findings if index in f.sections]


def split_sections(document: str, headings: Sequence[str]) -> list[str | None]:
    """Each heading's section text in an assembled document, in order (None for a heading
    it lacks). The document's `## ` lines are its sections' headings (a section's own
    headings are nested deeper) and its reference list."""
    starts: list[tuple[int, int] | None] = []
    at = 0
    for heading in headings:
        found = re.compile(rf"^## {re.escape(heading)}[ \t]*$", re.MULTILINE).search(document, at)
        starts.append((found.start(), found.end()) if found else None)
        at = found.end() if found else at
    texts: list[str | None] = []
    for number, span in enumerate(starts):
        if span is None:
            texts.append(None)
            continue
        following = [s[0] for s in starts[number + 1 :] if s is not None]
        references = re.compile(r"^## References[ \t]*$", re.MULTILINE).search(document, span[1])
        end = min([*following, references.start() if references else len(document)])
        texts.append(document[span[1] : end].strip())
    return texts


def _loop_state(values: Mapping[str, Any]) -> str:
    """Where a section's writer <-> editor loop stands, from its own checkpoint."""
    if not values.get("draft"):
        return "drafting"
    verdicts = values.get("verdicts") or []
    judged = verdicts and int(verdicts[-1].get("round", 0)) >= int(values.get("round", 0))
    return "drafting" if judged else "in_review"


def document_view(
    values: Mapping[str, Any],
    *,
    running: Mapping[int, str] | None = None,
    loops: Mapping[int, Mapping[str, Any]] | None = None,
    finished: Sequence[SectionRecord] = (),
) -> DocumentView:
    """The document a `document` thread's state `values` holds.

    Args:
        values: The thread's state values.
        running: Sections in a task of the thread's next step, by index: the task's node
            (`section` or `revise`) or `waiting_for_review` when it is paused there.
        loops: The latest values of a running section's own loop, by index.
        finished: Section records of tasks of the next step that are done while others of
            that step still run (not yet in `values`).
    """
    outline: OutlineRecord = values.get("outline") or OutlineRecord(title="", sections=[])
    records: dict[int, SectionRecord] = {s["index"]: s for s in values.get("sections") or []}
    records.update({s["index"]: s for s in finished})
    running, loops = running or {}, loops or {}
    assemblies = values.get("revisions") or []
    briefs = outline["sections"]
    firsts = (
        split_sections(str(assemblies[0]["text"]), [b["heading"] for b in briefs])
        if assemblies
        else [None] * len(briefs)
    )
    sections = []
    for brief, first in zip(briefs, firsts, strict=True):
        index = brief["index"]
        record, loop = records.get(index), loops.get(index) or {}
        state = "planned"
        if record is not None:
            state = record["status"]
        if running.get(index) == REVISE:
            state = "revising"
        elif running.get(index) == SECTION:
            state = _loop_state(loop)
        elif index in running:
            state = running[index]
        text = record["text"] if record else section_body(str(loop.get("draft", "")))
        sections.append(
            SectionView(
                index=index,
                heading=brief["heading"],
                purpose=brief["purpose"],
                key_points=list(brief["key_points"]),
                words=brief["words"],
                state=state,
                rounds=record["rounds"] if record else int(loop.get("round", 0)),
                text=text,
                first=first,
                issues=list(record["issues"]) if record else [],
                drafts=list((record or loop).get("revisions") or []),
                verdicts=list((record or loop).get("verdicts") or []),
            )
        )
    findings = [
        FindingView(n, f["kind"], f["comment"], list(f["quotes"]))
        for n, f in enumerate(values.get("findings") or [], 1)
    ]
    draft = str(values.get("draft", ""))
    cited = {c["number"] for c in citations(draft)}
    references = [s for s in values.get("sources") or [] if s["number"] in cited]
    summary = summarize_thread(values)
    return DocumentView(
        outline["title"],
        sections,
        findings,
        references,
        draft,
        summary,
        by_section(values.get("style_sheet")),
        by_section(values.get("fact_ledger")),
    )


async def load_document(manager: ConversationManager, thread_id: str) -> DocumentView | None:
    """The long document of thread `thread_id`; None when the thread is not a document.

    Raises:
        UnknownThreadError: No such thread.
    """
    result = await manager.result(thread_id)  # unknown thread -> UnknownThreadError
    if result.graph != NAME:
        return None
    config: Any = {"configurable": {"thread_id": thread_id}}
    snapshot = await manager.graph(NAME).aget_state(config)
    values = snapshot.values
    finished: list[SectionRecord] = []
    running: dict[int, str] = {}
    if REVISE in snapshot.next:  # the sections the findings quote revise, all at once
        running = {q["section"]: REVISE for f in values.get("findings") or [] for q in f["quotes"]}
    loops: dict[int, dict[str, Any]] = {}
    for task in snapshot.tasks:
        if isinstance(task.result, Mapping):  # done while others of its step still run
            finished += task.result.get("sections") or []
        elif task.name == SECTION:
            loop = await _loop(manager, thread_id, task.id)
            if loop is not None:  # None: its loop has not checkpointed yet (planned)
                index = int(loop["section"]["index"])
                running[index] = "waiting_for_review" if task.interrupts else SECTION
                loops[index] = loop
    for record in finished:  # a revision or a loop that already ended
        running.pop(record["index"], None)
    return document_view(values, running=running, loops=loops, finished=finished)


async def _loop(
    manager: ConversationManager, thread_id: str, task_id: str
) -> dict[str, Any] | None:
    """The latest values of a section's loop, checkpointed in the task's namespace."""
    namespace = f"{SECTION}:{task_id}"
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": namespace}}
    saved = await manager.checkpointer.aget_tuple(config)
    values = dict(saved.checkpoint["channel_values"]) if saved else {}
    return values if "index" in (values.get("section") or {}) else None
