"""The consistency editor of a long document: it reads two neighbouring sections at a time
(a bounded prompt, whatever the document's length) and returns typed findings, each
anchored to passages quoted from named sections. The whole pass, with the map-reduce of a
document longer than the window, is `copydesk.agents.consistency_pass`.

A quote that is not in the section it names is dropped, and so is a finding left with no
quote: a finding always points at text that is there, so it can go back to exactly the
sections it quotes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.chatbot import Chatbot
from copydesk.agents.document import (
    DocumentState,
    FindingRecord,
    QuoteRecord,
    SectionRecord,
    outline_text,
)
from copydesk.agents.errors import ModelOutputError
from copydesk.agents.state import IssueRecord, UsageTotals
from copydesk.agents.style_sheet import style_sheet_text
from copydesk.prompts.markers import DRAFT_CLOSE, DRAFT_OPEN, NUMBERED_SECTION

__all__ = [
    "ConsistencyEditor",
    "Finding",
    "Findings",
    "anchored",
    "in_section",
    "issues_for",
    "request",
    "section_text",
    "typed_or_none",
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
        json_schema_extra={"maxItems": 10},
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def in_section(quote: str, text: str) -> bool:
    """True when `quote` is in `text` (whitespace aside) and says something."""
    return bool(quote.strip()) and _flat(quote) in _flat(text)


def anchored(finding: Finding, sections: dict[int, SectionRecord]) -> FindingRecord | None:
    """`finding` with only the quotes found in the sections they name (None if none is)."""
    quotes: list[QuoteRecord] = [
        {"section": q.section, "text": q.text.strip()}
        for q in finding.quotes
        if q.section in sections and in_section(q.text, sections[q.section]["text"])
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


def section_text(section: SectionRecord, body: str | None = None) -> str:
    """A section as the consistency prompts show it: numbered, its text (or `body`) fenced."""
    heading = NUMBERED_SECTION.format(index=section["index"], heading=section["heading"])
    text = section["text"] if body is None else body
    return f"{heading}\n{DRAFT_OPEN}\n{text}\n{DRAFT_CLOSE}"


@dataclass(frozen=True)
class ConsistencyEditor(Chatbot):
    """Reads sections side by side (two neighbours, in practice) and returns findings."""

    def messages(
        self, state: DocumentState, sections: Sequence[SectionRecord]
    ) -> list[BaseMessage]:
        """The request on `sections`, each numbered and fenced."""
        return request(self, state, "\n\n".join(section_text(s) for s in sections))

    async def pair(
        self, state: DocumentState, pair: Sequence[SectionRecord], config: RunnableConfig
    ) -> tuple[Findings, UsageTotals]:
        """The findings on one pair; none when the model gives no valid typed reply (the
        document stands as its sections' editors approved it)."""
        numbers = " and ".join(str(s["index"]) for s in pair)
        found, used = await typed_or_none(
            self, self.messages(state, pair), Findings, config, f"findings on sections {numbers}"
        )
        return found or Findings(findings=[]), used


def request(bot: Chatbot, state: DocumentState, sections: str) -> list[BaseMessage]:
    """`bot`'s first task on `sections` (sections or digests, as its prompt reads them),
    with the document's topic, outline and style sheet."""
    values = {
        "topic": state.get("topic", ""),
        "outline": outline_text(state["outline"]),
        "style_sheet": style_sheet_text(state.get("style_sheet")),
        "sections": sections,
    }
    return [bot.prompt.system_message(values), bot.prompt.task_message("first", values)]


T = TypeVar("T", bound=BaseModel)
NO_USAGE = UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0)


async def typed_or_none(
    bot: Chatbot, messages: list[BaseMessage], schema: type[T], config: RunnableConfig, what: str
) -> tuple[T | None, UsageTotals]:
    """`bot`'s typed reply to `messages` and its usage; None, said in a warning naming
    `what`, when the model gives no valid one (a consistency reading helps, never stops)."""
    try:
        result = await bot.client.structured(
            messages, schema, config=config, agent=bot.name, params=bot.prompt.model_params
        )
    except ModelOutputError as error:
        _log.warning("%s: no %s: %s", bot.name, what, error)
        return None, NO_USAGE
    return result.value, result.usage
