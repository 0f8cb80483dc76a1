"""The consistency editor of a long document: it reads the assembled document two
neighbouring sections at a time (a bounded prompt, whatever the document's length) and
returns typed findings, each anchored to passages quoted from named sections.

A quote that is not in the section it names is dropped, and so is a finding left with no
quote: a finding always points at text that is there, so it can go back to exactly the
sections it quotes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.chatbot import Chatbot, message_id
from copydesk.agents.document import (
    DocumentState,
    FindingRecord,
    QuoteRecord,
    SectionRecord,
    outline_text,
)
from copydesk.agents.errors import ModelOutputError
from copydesk.agents.state import IssueRecord, UsageTotals, add_usage
from copydesk.prompts.markers import DRAFT_CLOSE, DRAFT_OPEN, NUMBERED_SECTION

__all__ = [
    "ConsistencyEditor",
    "Finding",
    "Findings",
    "anchored",
    "issues_for",
]

_log = logging.getLogger("copydesk.consistency")

Kind = Literal["contradiction", "terminology", "repetition", "transition"]


class Quote(BaseModel):
    """A passage quoted from one section."""

    model_config = ConfigDict(extra="forbid")

    section: int = Field(description="the number of the section the passage is in")
    text: str = Field(
        description="the passage, quoted exactly", json_schema_extra={"maxLength": 160}
    )


class Finding(BaseModel):
    """One thing that does not hold together across sections."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(description="what sort of inconsistency it is")
    quotes: list[Quote] = Field(
        description="the passages it concerns, one or more", json_schema_extra={"maxItems": 3}
    )
    comment: str = Field(
        description="what is inconsistent and what to change",
        json_schema_extra={"maxLength": 200},
    )


class Findings(BaseModel):
    """The consistency editor's findings on two neighbouring sections."""

    model_config = ConfigDict(extra="forbid")

    findings: list[Finding] = Field(
        description="every finding, most important first (empty when they hold together)",
        json_schema_extra={"maxItems": 5},
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def anchored(finding: Finding, sections: dict[int, SectionRecord]) -> FindingRecord | None:
    """`finding` with only the quotes found in the sections they name (None if none is)."""
    quotes: list[QuoteRecord] = [
        {"section": q.section, "text": q.text.strip()}
        for q in finding.quotes
        if q.section in sections
        and q.text.strip()
        and _flat(q.text) in _flat(sections[q.section]["text"])
    ]
    if not quotes:
        return None
    return {"kind": finding.kind, "quotes": quotes, "comment": finding.comment.strip()}


def issues_for(index: int, findings: list[FindingRecord]) -> list[IssueRecord]:
    """The issues the findings give section `index`: one per finding quoting it."""
    issues: list[IssueRecord] = []
    for finding in findings:
        mine = [q["text"] for q in finding["quotes"] if q["section"] == index]
        others = sorted({q["section"] for q in finding["quotes"]} - {index})
        also = f" (also in section {', '.join(map(str, others))})" if others else ""
        if mine:
            comment = f"{finding['kind']}{also}: {finding['comment']}"
            issues.append({"severity": "major", "quote": mine[0][:100], "comment": comment})
    return issues


def _pair_text(pair: tuple[SectionRecord, ...]) -> str:
    return "\n\n".join(
        f"{NUMBERED_SECTION.format(index=s['index'], heading=s['heading'])}\n"
        f"{DRAFT_OPEN}\n{s['text']}\n{DRAFT_CLOSE}"
        for s in pair
    )


@dataclass(frozen=True)
class ConsistencyEditor(Chatbot):
    """Reads neighbouring sections in pairs, all pairs at once, and returns their findings."""

    async def review(self, state: DocumentState, config: RunnableConfig) -> DocumentState:
        """The findings on every pair of neighbouring sections, anchored and without repeats."""
        sections = state.get("sections") or []
        by_index = {s["index"]: s for s in sections}
        pairs = [tuple(sections[i : i + 2]) for i in range(len(sections) - 1)]
        replies = await asyncio.gather(*(self._pair(state, pair, config) for pair in pairs))
        findings: list[FindingRecord] = []
        usage: dict[str, UsageTotals] = {}
        for found, used in replies:
            usage = add_usage(usage, {self.name: used})
            for finding in found.findings:
                record = anchored(finding, by_index)
                if record is not None and record not in findings:
                    findings.append(record)
        lines = [f"{len(findings)} finding(s) across {len(pairs)} pair(s) of sections."]
        lines += [
            f"- {f['kind']} in section {', '.join(str(q['section']) for q in f['quotes'])}: "
            f"{f['comment']}"
            for f in findings
        ]
        said = AIMessage("\n".join(lines), name=self.name, id=message_id(config, 0, self.name))
        update: DocumentState = {
            "messages": [said],
            "findings": findings,
            "prompts": {self.name: self.prompt.ref},
            "usage": usage,
        }
        return update

    async def _pair(
        self, state: DocumentState, pair: tuple[SectionRecord, ...], config: RunnableConfig
    ) -> tuple[Findings, UsageTotals]:
        """The findings on one pair; none when the model gives no valid typed reply (the
        document stands as its sections' editors approved it)."""
        values = {
            "topic": state.get("topic", ""),
            "outline": outline_text(state["outline"]),
            "sections": _pair_text(pair),
        }
        try:
            result = await self.client.structured(
                [self.prompt.system_message(values), self.prompt.task_message("first", values)],
                Findings,
                config=config,
                agent=self.name,
                params=self.prompt.model_params,
            )
        except ModelOutputError as error:
            numbers = " and ".join(str(s["index"]) for s in pair)
            _log.warning("%s: no findings on sections %s: %s", self.name, numbers, error)
            return Findings(findings=[]), UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0)
        return result.value, result.usage
