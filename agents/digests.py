"""The consistency pass of a document longer than one window, as map-reduce: each section
read alone into a digest of its claims (quoted exactly), then the digests compared with each
other, as many at a time as fit the window, every two groups once, so every two sections
are compared whatever their distance in the document.

A digest's claim that is not in its section is dropped, like a finding's quote: the
comparison sees only text that is there, so its findings can go back to their sections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from copydesk.agents.chatbot import Chatbot
from copydesk.agents.consistency import (
    Findings,
    in_section,
    request,
    section_text,
    typed_or_none,
)
from copydesk.agents.document import DocumentState, SectionRecord
from copydesk.agents.state import UsageTotals

__all__ = [
    "Claim",
    "Digest",
    "DigestComparer",
    "SectionDigester",
    "digest_text",
    "groups",
]


class Claim(BaseModel):
    """One thing a section states that another could contradict or name differently."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description="the sentence or phrase of the section, quoted exactly",
        json_schema_extra={"maxLength": 160},
    )
    about: str = Field(
        description="what it is about, in two to five words", json_schema_extra={"maxLength": 60}
    )


class Digest(BaseModel):
    """A section's claims: its numbers, names, dates, definite claims and key terms."""

    model_config = ConfigDict(extra="forbid")

    claims: list[Claim] = Field(
        description="each number, name, date, definite claim and key term of the section",
        json_schema_extra={"maxItems": 10},
    )


def digest_text(section: SectionRecord, digest: Digest) -> str:
    """A section's digest as the comparison reads it: one claim a line, quoted as found."""
    lines = [f"- {c.text.strip()} (about: {c.about.strip()})" for c in digest.claims]
    return section_text(section, "\n".join(lines) or "(no claims)")


def groups(texts: Sequence[str], budget: int, count: Callable[[str], int]) -> list[list[int]]:
    """Consecutive indexes of `texts` in groups whose texts together count at most `budget`
    (a text over the budget alone makes a group of its own)."""
    found: list[list[int]] = []
    used = 0
    for n, text in enumerate(texts):
        size = count(text)
        if found and used + size <= budget:
            found[-1].append(n)
            used += size
        else:
            found.append([n])
            used = size
    return found


@dataclass(frozen=True)
class SectionDigester(Chatbot):
    """Reads one section alone and lists its claims, each quoted exactly."""

    def messages(self, state: DocumentState, section: SectionRecord) -> list[BaseMessage]:
        """The digest request of `section`."""
        return request(self, state, section_text(section))

    async def digest(
        self, state: DocumentState, section: SectionRecord, config: RunnableConfig
    ) -> tuple[Digest, UsageTotals]:
        """The section's digest, only the claims found in it; none when the model gives
        no valid typed reply (the section is then compared by its neighbours only)."""
        digest, used = await typed_or_none(
            self,
            self.messages(state, section),
            Digest,
            config,
            f"digest of section {section['index']}",
        )
        claims = [
            c for c in (digest.claims if digest else []) if in_section(c.text, section["text"])
        ]
        return Digest(claims=claims), used


@dataclass(frozen=True)
class DigestComparer(Chatbot):
    """Compares the digests of several sections and returns the findings across them."""

    def messages(self, state: DocumentState, digests: Sequence[str]) -> list[BaseMessage]:
        """The comparison request of `digests` (each as `digest_text` writes it)."""
        return request(self, state, "\n\n".join(digests))

    async def compare(
        self, state: DocumentState, digests: Sequence[str], config: RunnableConfig
    ) -> tuple[Findings, UsageTotals]:
        """The findings across `digests`; none when the model gives no valid typed reply."""
        found, used = await typed_or_none(
            self,
            self.messages(state, digests),
            Findings,
            config,
            f"findings on {len(digests)} digests",
        )
        return found or Findings(findings=[]), used
