"""A section's redline since the first complete draft, cut where the passages that findings
and issues quote begin and end, so the page can highlight them and the Word export can
anchor its comments on them.

A consistency finding quotes the section as the consistency pass read it (the first complete
draft), so its passage is looked for in that earlier text first (and may lie in a deletion);
an open issue quotes the text as it is now. Offsets in either text map onto the redline's
segments, which know where they start in both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from copydesk.graphs.reports.document_view import DocumentView, SectionView
from copydesk.graphs.reports.issue_tracking import find_quote
from copydesk.graphs.reports.redline import Segment, redline

__all__ = ["Mark", "Stretch", "marked_redline", "section_marks"]


@dataclass(frozen=True)
class Mark:
    """A passage a finding or an issue quotes."""

    key: str
    """`fN` for finding N, `iN` for the section's open issue N (both from 1)."""
    text: Literal["old", "new"]
    """Which text the offsets are in: the first complete draft's or today's."""
    start: int
    end: int


@dataclass(frozen=True)
class Stretch:
    """A piece of the redline with the marks covering all of it (findings first)."""

    kind: str
    """`equal`, `insert` or `delete`."""
    text: str
    marks: tuple[str, ...] = ()


def section_marks(document: DocumentView, section: SectionView) -> list[Mark]:
    """The passages in `section` that the findings quoting it and its open issues quote
    (a quote found in neither text has no mark)."""
    old = section.first if section.first is not None else section.text
    marks: list[Mark] = []
    for finding in document.findings_in(section.index):
        for quote in finding.quotes:
            if quote["section"] != section.index:
                continue
            for which, text in (("old", old), ("new", section.text)):
                found = find_quote(text, quote["text"])
                if found:
                    marks.append(Mark(f"f{finding.number}", which, *found))  # type: ignore[arg-type]
                    break
    for number, issue in enumerate(section.issues, 1):
        found = find_quote(section.text, issue["quote"])
        if found:
            marks.append(Mark(f"i{number}", "new", *found))
    return marks


def _starts(segment: Segment) -> dict[str, int]:
    """Where a segment starts in the earlier and the later text (when it is in them)."""
    starts = {}
    if segment.old_start is not None:
        starts["old"] = segment.old_start
    if segment.new_start is not None:
        starts["new"] = segment.new_start
    return starts


def marked_redline(old: str | None, new: str, marks: list[Mark]) -> list[Stretch]:
    """The redline of `old` against `new` (`new` alone when `old` is None or the same), cut
    at the edges of `marks`, each stretch with the marks that cover it."""
    same = old is None or old == new
    segments = [Segment("equal", new, 0, 0)] if same else redline(str(old), new)
    stretches: list[Stretch] = []
    for segment in segments:
        starts = _starts(segment)
        size = len(segment.text)
        cuts = {0, size}
        for mark in marks:
            at = starts.get(mark.text)
            if at is not None:
                cuts |= {edge - at for edge in (mark.start, mark.end) if 0 < edge - at < size}
        for a, b in itertools.pairwise(sorted(cuts)):
            covering = [
                m.key
                for m in marks
                if m.text in starts and m.start - a <= starts[m.text] <= m.end - b
            ]
            covering.sort(key=lambda key: (not key.startswith("f"), int(key[1:])))
            stretches.append(Stretch(segment.kind, segment.text[a:b], tuple(covering)))
    return stretches
