"""The writer and editor of one section of a long document, and the check of its citations.

They are the `Writer` and `Editor` of every other topology, speaking with prompts that carry
the section's bounded context instead of a whole piece: the outline, short summaries of the
neighbouring sections, the section's own brief and the source passages relevant to it
(`copydesk.agents.document`). The section's loop runs on a `SectionState`, so nothing of the
other sections' text ever reaches them.

Every verdict on a section also checks its citations: each `[n]` must name a given source,
and the sentence citing it must be supported by that source, by wording and by meaning
(`copydesk.memory.support`: its numbers in the source, and a close embedding match, or shared
content words with a near one). An unsupported citation is a major issue of that verdict,
so the writer revises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, cast

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore
from pydantic import ConfigDict, Field

from copydesk.agents.chatbot import Editor, Writer
from copydesk.agents.document import SectionState, brief_text
from copydesk.agents.state import DraftState, DraftUpdate, IssueRecord, VerdictRecord
from copydesk.agents.style_sheet import NONE_YET, SectionNotes, notes_records
from copydesk.agents.verdict import Verdict
from copydesk.memory.sources import SourceRecord, citations
from copydesk.memory.support import judge

__all__ = [
    "SectionEditor",
    "SectionVerdict",
    "SectionWriter",
    "citation_issues",
    "section_values",
    "thread_of",
]

NO_SOURCES = "(none: write from general knowledge and cite nothing)"


def section_values(state: DraftState) -> dict[str, object]:
    """The prompt variables a section adds: its heading, brief, length, the outline, its
    neighbours, its source passages, the style sheet and the ledger entries concerning it."""
    section = cast(SectionState, state)
    brief = section.get("section")
    if brief is None:
        raise ValueError("a section's loop runs on a SectionState with its `section` brief")
    return {
        "heading": brief["heading"],
        "words": brief["words"],
        "key_points": "; ".join(brief["key_points"]) or brief["heading"],
        "brief": brief_text(brief),
        "outline": section.get("outline_text", ""),
        "neighbours": section.get("neighbours", ""),
        "passages": section.get("passages") or NO_SOURCES,
        "style_sheet": section.get("style_sheet_text") or NONE_YET,
        "facts": section.get("facts_text") or NONE_YET,
    }


def thread_of(config: RunnableConfig) -> str:
    """The thread a call runs in ("" outside one)."""
    return str((config.get("configurable") or {}).get("thread_id") or "")


async def citation_issues(
    text: str,
    sources: list[SourceRecord],
    *,
    store: BaseStore | None = None,
    thread_id: str = "",
) -> list[IssueRecord]:
    """A major issue for each citation in `text` that names no source in `sources`, or whose
    sentence its source does not support (`copydesk.memory.support.judge`, the source's items
    searched in `store` under `thread_id`)."""
    known = {s["number"]: s for s in sources}
    given = ", ".join(f"[{n}]" for n in sorted(known)) or "none"
    issues: list[IssueRecord] = []
    for cited in citations(text):
        quote = cited["sentence"][:100]
        source = known.get(cited["number"])
        if source is None:
            comment = (
                f"[{cited['number']}] names no given source (given: {given}); cite a given "
                "source or drop the citation"
            )
        else:
            found = await judge(cited["sentence"], source, store=store, thread_id=thread_id)
            if found.supported:
                continue
            lacking = f" (it does not give {', '.join(found.missing)})" if found.missing else ""
            comment = (
                f"source [{cited['number']}] ({source['name']}) does not support this "
                f"sentence{lacking}; rewrite it to say what the source says, or drop the "
                "citation"
            )
        issue: IssueRecord = {"severity": "major", "quote": quote, "comment": comment}
        if issue not in issues:
            issues.append(issue)
    return issues


@dataclass(frozen=True)
class SectionWriter(Writer):
    """Writes one section from its brief, then revises it to answer each issue."""

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The writer's variables plus the section's."""
        return {**super().values(state, round_), **section_values(state)}


class SectionVerdict(Verdict):
    """A section editor's verdict: the decision, and, when it approves, what the section
    settles for the others (`copydesk.agents.style_sheet`). On the wire it is named
    `Verdict`, as every editor's is: a server, a recording or a fake that knows the verdict
    knows this one."""

    model_config = ConfigDict(extra="forbid", title="Verdict")

    notes: SectionNotes = Field(
        default_factory=SectionNotes,
        description="when you approve: the section's terms, style and facts; else empty",
    )


@dataclass(frozen=True)
class SectionEditor(Editor):
    """Reviews one section against its brief, and checks its citations; a typed verdict
    that, when it approves, carries the section's style and facts (`section_notes`)."""

    verdict_schema: ClassVar[type[Verdict]] = SectionVerdict

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The editor's variables plus the section's."""
        return {**super().values(state, round_), **section_values(state)}

    def noted(self, state: DraftState, verdict: Verdict, update: DraftUpdate) -> DraftUpdate:
        """An approving verdict's notes, as the section's style and ledger entries."""
        brief = cast(SectionState, state).get("section")
        if verdict.decision != "approve" or not isinstance(verdict, SectionVerdict) or not brief:
            return update
        style, facts = notes_records(verdict.notes, brief["index"])
        return cast(DraftUpdate, {**update, "section_notes": {"style": style, "facts": facts}})

    async def __call__(
        self,
        state: DraftState,
        config: RunnableConfig,
        *,
        # LangGraph injects the store only into a parameter annotated exactly
        # `Optional[BaseStore]` or `BaseStore`; it does not recognise `BaseStore | None`.
        store: Optional[BaseStore] = None,  # noqa: UP045
    ) -> DraftUpdate:
        """The editor's verdict, with an issue for each unsupported citation (which makes
        it a revision)."""
        update = await super().__call__(state, config, store=store)
        if not update.get("verdicts"):  # none: the budget refused the call
            return update
        sources = cast(SectionState, state).get("sources") or []
        found = await citation_issues(
            state.get("draft", ""), sources, store=store, thread_id=thread_of(config)
        )
        if not found:
            return update
        update = {k: v for k, v in update.items() if k != "section_notes"}  # type: ignore[assignment]
        verdict = (update.get("verdicts") or [])[-1]
        record: VerdictRecord = {
            **verdict,
            "decision": "revise",
            "issues": [*found, *verdict["issues"]],
            "summary": f"{verdict['summary']} {len(found)} citation(s) not supported.".strip(),
        }
        lines = [f"Decision: revise. {record['summary']}"]
        lines += [f'- [{i["severity"]}] "{i["quote"]}": {i["comment"]}' for i in record["issues"]]
        said = update["messages"][-1]
        message = AIMessage("\n".join(lines), name=self.name, id=said.id)
        return {**update, "verdicts": [record], "messages": [message]}
