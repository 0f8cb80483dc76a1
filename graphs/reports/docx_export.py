"""The Word export: the final draft with tracked changes since a round and the open issues
as comments (`copydesk export THREAD --format docx [--against ROUND] -o FILE`).

The document is made with python-docx; the tracked changes are plain WordprocessingML runs
wrapped in `w:ins` / `w:del` (python-docx has no API for them), each credited to the agent
whose draft made the change and dated when that draft was saved. Changes are attributed
through the drafts in between: a word the second draft added and the fourth kept is the
second draft's insertion, a word of the first draft that the third removed is the third's
deletion (`copydesk.graphs.reports.attribution`). Each editor issue still open against the final
draft
becomes a Word comment anchored on its quoted passage.

A deleted paragraph break is shown as deleted text (a space), not as a deleted paragraph mark;
an inserted one is a paragraph whose mark is tracked as inserted.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import docx
from docx.document import Document
from docx.text.run import Run

from copydesk.agents.errors import CopydeskError
from copydesk.graphs.reports._docx import deleted_run, mark_inserted, wrap_run
from copydesk.graphs.reports.attribution import Change, credited_changes
from copydesk.graphs.reports.issue_tracking import find_quote
from copydesk.graphs.reports.timeline import Timeline, load_timeline

if TYPE_CHECKING:
    from copydesk.graphs.manager import ConversationManager

__all__ = ["DocxExportError", "DocxSummary", "export_docx", "write_docx"]


class DocxExportError(CopydeskError):
    """A Word export that cannot be made: no draft yet, or no draft of the asked round."""

    exit_code = 2


@dataclass(frozen=True)
class DocxSummary:
    """What the document holds."""

    against_round: int
    insertions: int
    deletions: int
    comments: int


async def export_docx(
    manager: ConversationManager, thread_id: str, path: Path, *, against: int | None = None
) -> DocxSummary:
    """Read the thread's timeline and write its Word document to `path`.

    Raises:
        UnknownThreadError: No such thread.
        DocxExportError: No draft yet, or none of round `against`.
    """
    timeline = await load_timeline(manager, thread_id)
    return await asyncio.to_thread(write_docx, timeline, path, against=against)  # file I/O


def write_docx(timeline: Timeline, path: Path, *, against: int | None = None) -> DocxSummary:
    """Write the final draft with changes since round `against` (default: the first draft).

    Raises:
        DocxExportError: The thread has no draft, or none of round `against`.
    """
    drafts = timeline.drafts
    if not drafts:
        raise DocxExportError(f"thread {timeline.result.thread_id!r} has no draft yet")
    rounds = [d.round for d in drafts]
    if against is None:
        against = rounds[0]
    if against not in rounds:
        raise DocxExportError(
            f"thread {timeline.result.thread_id!r} has no draft of round {against}; "
            f"pass --against one of {', '.join(map(str, rounds))}"
        )
    base = max(d.index for d in drafts if d.round == against)
    chain = drafts[base:]
    pieces = credited_changes(chain)
    # Open: raised against the final draft. One whose quote is not in it is still shown,
    # anchored at the start and saying so.
    opened = [i for i in timeline.issues if i.revision == drafts[-1].index]
    spans = [(find_quote(drafts[-1].text, i.quote), i) for i in opened]
    cuts = sorted({edge for span, _ in spans if span for edge in span})
    document = docx.Document()
    document.core_properties.title = timeline.topic[:250]
    document.core_properties.author = "copydesk"
    ended = f" (ended by {timeline.result.ended_by})" if timeline.result.ended_by else ""
    # Where the thread stands, in the file's properties: the page holds only the draft.
    document.core_properties.subject = f"status {timeline.result.status}{ended}"[:250]
    runs = _write(document, _cut(pieces, cuts))
    comments = 0
    for span, issue in spans:
        anchored = [run for start, end, run in runs if span and start < span[1] and end > span[0]]
        target = anchored or [runs[0][2] if runs else document.paragraphs[0].add_run("")]
        where = "" if span else f' (quote not found: "{issue.quote}")'
        note = f"[{issue.severity}] {issue.comment}{where}"
        document.add_comment(target, text=note, author=issue.agent or "editor", initials="")
        comments += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return DocxSummary(
        against_round=against,
        insertions=sum(p.kind == "insert" for p in pieces),
        deletions=sum(p.kind == "delete" for p in pieces),
        comments=comments,
    )


def _cut(pieces: list[Change], cuts: list[int]) -> list[Change]:
    """Split equal and inserted pieces at `cuts` (final-text offsets): comment anchors."""
    out: list[Change] = []
    for piece in pieces:
        if piece.start is None:
            out.append(piece)
            continue
        inner = [c - piece.start for c in cuts if piece.start < c < piece.start + len(piece.text)]
        for a, b in itertools.pairwise([0, *inner, len(piece.text)]):
            out.append(Change(piece.kind, piece.text[a:b], piece.draft, piece.start + a))
    return out


def _write(document: Document, pieces: list[Change]) -> list[tuple[int, int, Run]]:
    """Lay the pieces out as paragraphs; returns (start, end, run) of the final text's runs."""
    ids = itertools.count(1000)  # tracked-change ids, clear of the comments' own numbering
    paragraph = document.add_paragraph()
    runs: list[tuple[int, int, Run]] = []
    for piece in pieces:
        if piece.kind == "delete":
            run = deleted_run(paragraph, piece.text)
            wrap_run(run, "w:del", piece.draft, next(ids))
            continue
        offset = piece.start or 0
        for part in re.split(r"(\n+)", piece.text):
            if part.startswith("\n"):  # a paragraph break, however many newlines
                if piece.kind == "insert":
                    mark_inserted(paragraph, piece.draft, next(ids))
                paragraph = document.add_paragraph()
            elif part:
                run = paragraph.add_run(part)
                if piece.kind == "insert":
                    wrap_run(run, "w:ins", piece.draft, next(ids))
                runs.append((offset, offset + len(part), run))
            offset += len(part)
    return runs
