"""The outline of a long document: the outliner's typed reply, the outliner agent, and an
outline read from a Markdown file (its headings and bullet points, taken as given)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field, create_model

from copydesk.agents.budgets import within_budget
from copydesk.agents.chatbot import Chatbot, message_id
from copydesk.agents.document import (
    DocumentState,
    OutlineRecord,
    SectionBrief,
    outline_markdown,
    outline_text,
)
from copydesk.agents.errors import CopydeskError
from copydesk.agents.state import DraftState, DraftUpdate

__all__ = [
    "DEFAULT_SECTIONS",
    "DEFAULT_WORDS",
    "MAX_SECTIONS",
    "Outline",
    "OutlineError",
    "Outliner",
    "SectionPlan",
    "outline_record",
    "outline_schema",
    "parse_outline",
]

DEFAULT_SECTIONS = 5
DEFAULT_WORDS = 2000
MAX_SECTIONS = 50
"""Most sections a document may have (an outline file's or `--sections`)."""
_MIN_SECTION_WORDS = 50


class OutlineError(CopydeskError):
    """An outline file that cannot be an outline (no headings, unreadable)."""

    exit_code = 2


class SectionPlan(BaseModel):
    """One section of the outline."""

    model_config = ConfigDict(extra="forbid")

    heading: str = Field(description="the section's heading", json_schema_extra={"maxLength": 80})
    purpose: str = Field(
        description="one sentence on what the section does", json_schema_extra={"maxLength": 200}
    )
    key_points: list[str] = Field(
        description="the points the section must cover",
        json_schema_extra={"maxItems": 4, "items": {"type": "string", "maxLength": 120}},
    )
    words: int = Field(description="target length in words")


class Outline(BaseModel):
    """The outliner's plan of a document."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="the document's title", json_schema_extra={"maxLength": 120})
    sections: list[SectionPlan] = Field(description="the sections, in reading order")


def outline_schema(count: int | None) -> type[Outline]:
    """`Outline`, with exactly `count` sections when given: a grammar-constrained server
    (llama.cpp) then plans that many, where a small model left free plans one. Servers
    without grammars get the bounds left out (`copydesk.agents.client.typed`)."""
    if not count:
        return Outline
    sections = Field(
        description="the sections, in reading order",
        json_schema_extra={"minItems": count, "maxItems": count},
    )
    return create_model("Outline", __base__=Outline, sections=(list[SectionPlan], sections))


def outline_record(outline: Outline, *, topic: str, words: int) -> OutlineRecord:
    """`outline` as stored: sections numbered from 1, at most `MAX_SECTIONS`, each with a
    target length (its share of `words` when the outliner gave none)."""
    plans = outline.sections[:MAX_SECTIONS] or [
        SectionPlan(heading=topic, purpose="", key_points=[], words=0)
    ]
    share = max(_MIN_SECTION_WORDS, words // len(plans))
    sections: list[SectionBrief] = [
        {
            "index": n,
            "heading": " ".join(p.heading.split()).lstrip("#").strip() or f"Part {n}",
            "purpose": " ".join(p.purpose.split()),
            "key_points": [" ".join(k.split()) for k in p.key_points if k.strip()],
            "words": p.words if p.words >= _MIN_SECTION_WORDS else share,
        }
        for n, p in enumerate(plans, start=1)
    ]
    return {"title": " ".join(outline.title.split()) or topic, "sections": sections}


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.+?)\s*$")


def parse_outline(
    text: str, *, topic: str, words: int, source: str = "the outline"
) -> OutlineRecord:
    """The outline a Markdown file gives: its headings are the sections (a single top heading
    above deeper ones is the title), the bullet points under a heading its key points, and
    any other text under it its purpose. A deeper heading inside a section is one more key
    point of it, its bullets too.

    Raises:
        OutlineError: No heading, or more than `MAX_SECTIONS` sections.
    """
    headings: list[tuple[int, str, list[str], list[str]]] = []
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            headings.append((len(heading.group(1)), heading.group(2), [], []))
            continue
        if not headings or not line.strip():
            continue
        bullet = _BULLET.match(line)
        (headings[-1][2] if bullet else headings[-1][3]).append(
            bullet.group(1) if bullet else line.strip()
        )
    if not headings:
        raise OutlineError(
            f"{source} has no headings; start each section with a Markdown heading "
            "(## Section title) and list its key points under it as bullets"
        )
    title = topic
    top = min(level for level, *_ in headings)
    if sum(level == top for level, *_ in headings) == 1 and len(headings) > 1:
        title = headings[0][1]
        headings = headings[1:]
        top = min(level for level, *_ in headings)
    chosen: list[tuple[int, str, list[str], list[str]]] = []
    for level, name, points, prose in headings:
        if level == top or not chosen:
            chosen.append((level, name, points, prose))
        else:  # a subheading: its name and bullets are key points of its section
            chosen[-1][2].extend([name, *points])
            chosen[-1][3].extend(prose)
    if len(chosen) > MAX_SECTIONS:
        raise OutlineError(
            f"{source} has {len(chosen)} sections; a document has at most {MAX_SECTIONS}: "
            "merge some headings"
        )
    plans = [
        SectionPlan(heading=name, purpose=" ".join(prose), key_points=points, words=0)
        for _, name, points, prose in chosen
    ]
    return outline_record(Outline(title=title, sections=plans), topic=topic, words=words)


@dataclass(frozen=True)
class Outliner(Chatbot):
    """Plans the document: a typed `Outline`. An outline already in the state (given by the
    user) is kept as it is, and no model is asked, unless a human sent feedback on it
    (`outline_feedback`): then the outliner plans it again to answer the feedback."""

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The usual variables plus how many `sections` and `words` the document wants, and,
        when a human sent feedback on it, the current `outline` and the `feedback`."""
        document = cast(DocumentState, state)
        given = document.get("outline")
        feedback = document.get("outline_feedback") or ""
        return {
            **super().values(state, round_),
            "sections": document.get("sections_wanted")
            or (len(given["sections"]) if given else DEFAULT_SECTIONS),
            "words": document.get("words") or DEFAULT_WORDS,
            "outline": outline_markdown(given) if given else "",
            "feedback": "\n".join(f"- {line}" for line in feedback.splitlines() if line.strip()),
        }

    @within_budget
    async def __call__(self, state: DocumentState, config: RunnableConfig) -> DraftUpdate:
        """Write the outline, unless one was given; plan it again to answer feedback."""
        given = state.get("outline")
        revising = bool(given and state.get("outline_feedback"))
        if given and not revising:
            text = f"Outline (given):\n{outline_text(given)}"
            return {
                "messages": [AIMessage(text, name=self.name, id=message_id(config, 0, self.name))]
            }
        wanted = state.get("sections_wanted")
        result = await self.client.structured(
            await self.acontext(state, "revise" if revising else "first", 0),
            outline_schema(None if revising else wanted),
            config=config,
            agent=self.name,
            params=self.prompt.model_params,
        )
        record = outline_record(
            result.value,
            topic=state.get("topic", ""),
            words=state.get("words") or DEFAULT_WORDS,
        )
        if wanted and not revising:  # it planned more than asked: the first `wanted` stand
            record["sections"] = record["sections"][:wanted]
        # A second plan is a new message (the same id would replace the first in `messages`).
        key = f"{self.name}.{len(state.get('messages') or [])}" if revising else self.name
        message = AIMessage(outline_text(record), name=self.name, id=message_id(config, 0, key))
        update: DocumentState = {
            "outline": record,
            "outline_feedback": "",
            "messages": [message],
            "prompts": {self.name: self.prompt.ref},
            "usage": {self.name: result.usage},
        }
        return update
