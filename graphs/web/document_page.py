"""The page of a long document: its outline with where each section stands, each section's
redline since the first complete draft with its open issues and the consistency findings
that quote it, and every finding linked to its passages in each section it quotes.

A section's text is drawn as one redline (the first complete draft against now): a finding
quotes the section as the consistency pass read it, so its passage is found in the earlier
text (and is struck through when the revision removed it); an open issue quotes the text as
it is now. Whatever a model wrote reaches the page as text (autoescaped templates).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from copydesk.graphs.reports.document_view import DocumentView, SectionView
from copydesk.graphs.reports.issue_tracking import (
    TrackedIssue,
    find_quote,
    judged_revision,
    track_issues,
)
from copydesk.graphs.reports.redline import Segment, redline
from copydesk.graphs.reports.timeline import Timeline
from copydesk.graphs.web.app import page

__all__ = ["Piece", "document_page", "section_pieces"]

LABELS = {
    "in_review": "in review",
    "waiting_for_review": "waiting for review",
    "revised": "approved, revised for consistency",
    "revising": "revising for consistency",
}
"""How a section's state reads on the page (others: underscores as spaces)."""


@dataclass(frozen=True)
class Piece:
    """A stretch of a section's redline, marked with the finding or issue quoting it."""

    kind: str
    """`equal`, `insert` or `delete`."""
    text: str
    finding: int | None = None
    issue: int | None = None
    severity: str = ""
    anchor: str = ""
    """The element id of the first stretch of a finding's passage ("" on the others)."""
    last: bool = False
    """Whether it is the last stretch of a finding's passage (which carries its number)."""


def anchor(finding: int, section: int) -> str:
    """The id of finding `finding`'s passage in section `section`."""
    return f"f{finding}-s{section}"


Span = tuple[str, int, int, int, int, str]
"""(coordinates `old` or `new`, start, end, finding number, issue number, severity)."""


def _spans(document: DocumentView, section: SectionView, old: str) -> list[Span]:
    spans: list[Span] = []
    for finding in document.findings_in(section.index):
        for quote in finding.quotes:
            if quote["section"] != section.index:
                continue
            for where, text in (("old", old), ("new", section.text)):
                found = find_quote(text, quote["text"])
                if found:
                    spans.append((where, *found, finding.number, 0, ""))
                    break
    for number, issue in enumerate(section.issues, 1):
        found = find_quote(section.text, issue["quote"])
        if found:
            spans.append(("new", *found, 0, number, issue["severity"]))
    return spans


def _coordinates(segment: Segment) -> list[tuple[str, int]]:
    """Where a segment starts in the earlier and the later text (when it is in them)."""
    places = []
    if segment.old_start is not None:
        places.append(("old", segment.old_start))
    if segment.new_start is not None:
        places.append(("new", segment.new_start))
    return places


def section_pieces(document: DocumentView, section: SectionView) -> list[Piece]:
    """The section's redline since the first complete draft (its text alone when it has not
    changed), each stretch marked with the finding or open issue that quotes it."""
    old = section.first if section.first is not None else section.text
    segments = redline(old, section.text) if old != section.text else [Segment("equal", old, 0, 0)]
    spans = _spans(document, section, old)
    pieces: list[Piece] = []
    anchored: set[int] = set()
    for segment in segments:
        places = _coordinates(segment)
        cuts = {0, len(segment.text)}
        for where, start, end, *_ in spans:
            for place, at in places:
                if place == where:
                    cuts |= {c - at for c in (start, end) if 0 < c - at < len(segment.text)}
        edges = sorted(cuts)
        for a, b in itertools.pairwise(edges):
            covering = [
                s
                for s in spans
                for place, at in places
                if s[0] == place and s[1] <= at + a and at + b <= s[2]
            ]
            covering.sort(key=lambda s: (s[3] == 0, s[1]))  # findings first
            piece = Piece(segment.kind, segment.text[a:b])
            if covering:
                _, _, _, finding, issue, severity = covering[0]
                first = bool(finding) and finding not in anchored
                anchored.add(finding)
                piece = Piece(
                    segment.kind,
                    segment.text[a:b],
                    finding or None,
                    issue or None,
                    severity,
                    anchor(finding, section.index) if first else "",
                )
            pieces.append(piece)
    ends = {p.finding: n for n, p in enumerate(pieces) if p.finding}
    return [
        dataclasses.replace(p, last=True) if n in ends.values() else p for n, p in enumerate(pieces)
    ]


def _history(section: SectionView) -> list[dict[str, Any]]:
    """Each draft of the section with its redline against the one before and the verdicts
    on it, each issue marked with what the next draft did about it."""
    tracked: dict[int, list[TrackedIssue]] = {}
    for issue in track_issues(section.drafts, section.verdicts):
        tracked.setdefault(issue.verdict, []).append(issue)
    entries = []
    for number, draft in enumerate(section.drafts):
        judged = [
            (verdict, tracked.get(n, []))
            for n, verdict in enumerate(section.verdicts)
            if judged_revision(section.drafts, int(verdict["round"])) == number
        ]
        previous = section.drafts[number - 1]["text"] if number else None
        entries.append(
            {
                "draft": draft,
                "segments": redline(previous, draft["text"]) if previous is not None else None,
                "verdicts": judged,
            }
        )
    return entries


def _sections(document: DocumentView) -> list[dict[str, Any]]:
    shown = []
    for section in document.sections:
        pieces = section_pieces(document, section)
        shown.append(
            {
                "section": section,
                "label": LABELS.get(section.state, section.state.replace("_", " ")),
                "pieces": pieces,
                "anchored": {p.finding for p in pieces if p.anchor},
                "findings": document.findings_in(section.index),
                "history": _history(section),
            }
        )
    return shown


def _issues_line(document: DocumentView) -> str:
    approved = sum(s.state in ("approved", "revised") for s in document.sections)
    return (
        f"{approved} of {len(document.sections)} sections approved; "
        f"{len(document.findings)} consistency finding(s); {document.summary.describe()}"
    )


async def document_page(
    request: Request, timeline: Timeline, document: DocumentView, **context: Any
) -> Response:
    """A document thread's page (`context`: what every thread page has: status, live run,
    the review forms)."""
    sections = _sections(document)
    anchored = {
        (finding, shown["section"].index) for shown in sections for finding in shown["anchored"]
    }
    return await page(
        request,
        "document.html",
        timeline=timeline,
        result=timeline.result,
        document=document,
        sections=sections,
        anchored=anchored,
        issues_line=_issues_line(document),
        **context,
    )
