"""The writer and editor of one section of a long document.

They are the `Writer` and `Editor` of every other topology, speaking with prompts that carry
the section's bounded context instead of a whole piece: the outline, short summaries of the
neighbouring sections and the section's own brief (`copydesk.agents.document`). The section's
loop runs on a `SectionState`, so nothing of the other sections' text ever reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from copydesk.agents.chatbot import Editor, Writer
from copydesk.agents.document import SectionState, brief_text
from copydesk.agents.state import DraftState

__all__ = ["SectionEditor", "SectionWriter", "section_values"]

NO_SOURCES = "(none: write from general knowledge and cite nothing)"


def section_values(state: DraftState) -> dict[str, object]:
    """The prompt variables a section adds: its heading, brief, length, the outline and its
    neighbours."""
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
        "passages": NO_SOURCES,
    }


@dataclass(frozen=True)
class SectionWriter(Writer):
    """Writes one section from its brief, then revises it to answer each issue."""

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The writer's variables plus the section's."""
        return {**super().values(state, round_), **section_values(state)}


@dataclass(frozen=True)
class SectionEditor(Editor):
    """Reviews one section against its brief; returns a typed `Verdict`."""

    def values(self, state: DraftState, round_: int) -> dict[str, object]:
        """The editor's variables plus the section's."""
        return {**super().values(state, round_), **section_values(state)}
