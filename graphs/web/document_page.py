"""The page of a long document: its outline with where each section stands, each section's
redline since the first complete draft with its open issues and the consistency findings
that quote it, and every finding linked to its passages in each section it quotes.

A section's text is drawn as one redline (the first complete draft against now), its
passages marked as `copydesk.graphs.reports.section_marks` finds them. Whatever a model
wrote reaches the page as text (autoescaped templates).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from copydesk.graphs.reports.document_view import DocumentView, SectionView
from copydesk.graphs.reports.issue_tracking import TrackedIssue, judged_revision, track_issues
from copydesk.graphs.reports.redline import redline
from copydesk.graphs.reports.section_marks import marked_redline, section_marks
from copydesk.graphs.reports.timeline import Timeline
from copydesk.graphs.web.app import page

__all__ = ["Piece", "document_page", "section_pieces"]


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


def section_pieces(document: DocumentView, section: SectionView) -> list[Piece]:
    """The section's redline since the first complete draft (its text alone when it has not
    changed), each stretch marked with the finding or open issue that quotes it."""
    issues = {f"i{n}": issue for n, issue in enumerate(section.issues, 1)}
    stretches = marked_redline(section.first, section.text, section_marks(document, section))
    pieces: list[Piece] = []
    anchored: set[int] = set()
    for stretch in stretches:
        if not stretch.marks:
            pieces.append(Piece(stretch.kind, stretch.text))
            continue
        key = stretch.marks[0]
        number = int(key[1:])
        if key.startswith("i"):
            severity = issues[key]["severity"]
            pieces.append(Piece(stretch.kind, stretch.text, issue=number, severity=severity))
            continue
        first = number not in anchored
        anchored.add(number)
        where = anchor(number, section.index) if first else ""
        pieces.append(Piece(stretch.kind, stretch.text, finding=number, anchor=where))
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
                "pieces": pieces,
                "anchored": {p.finding for p in pieces if p.anchor},
                "findings": document.findings_in(section.index),
                "history": _history(section),
            }
        )
    return shown


def _review(document: DocumentView, asked: Any) -> dict[str, Any]:
    """What the review forms say and offer at a document's pause (`--review outline`,
    `sections` or `final`): which sections an answer can be for."""
    asked = asked if isinstance(asked, dict) else {}
    headings = {s.index: s.heading for s in document.sections}
    options = [(str(i), f"{i}. {h}") for i, h in headings.items()]
    stage = asked.get("stage")
    if stage == "outline":
        prompt = (
            "The outline waits for you (below): approve it, or send feedback that the "
            "outliner answers with a new outline."
        )
        return {"review_prompt": prompt}
    if stage == "section":
        waiting = [int(i) for i in asked.get("waiting") or [asked["section"]["index"]]]
        picks = [(str(i), f"{i}. {headings.get(i, '')}") for i in sorted(waiting)]
        names = ", ".join(label for _, label in picks)
        prompt = (
            f"Waiting for your review: {names}. Approve a section, or send it back with "
            "feedback for its writer."
        )
        return {"review_prompt": prompt, "approve_sections": picks, "feedback_sections": picks}
    prompt = (  # the final review
        "The whole document waits for you: approve it, or send feedback; it goes to the "
        "section you pick, else to those it quotes or names, else to every section."
    )
    anyone = [("", "the sections it quotes or names"), *options]
    return {"review_prompt": prompt, "feedback_sections": anyone}


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
        **(_review(document, timeline.result.review) if context.get("waiting") else {}),
        **context,
    )
