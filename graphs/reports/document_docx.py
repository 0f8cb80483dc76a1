"""The Word export of a long document (`copydesk export THREAD -o FILE.docx` on a `document`
thread): the title, a Heading 1 per section and the references, each section's changes since
the first complete draft as tracked changes, and its open issues and the consistency
findings that quote it as Word comments anchored on the quoted passages.

A section's changes are one redline (the first complete draft against now), credited to the
author of the section's last draft and dated when the document was last assembled. A
finding's passage is found in the text the consistency pass read, so when the revision
removed it the comment is anchored on the tracked deletion. Comments are placed before the
runs are wrapped in `w:ins` / `w:del`, so their range marks stay outside the changes.
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

from copydesk.graphs.reports._docx import deleted_run, mark_inserted, wrap_run
from copydesk.graphs.reports.document_view import DocumentView, SectionView, load_document
from copydesk.graphs.reports.docx_export import DocxExportError
from copydesk.graphs.reports.section_marks import Stretch, marked_redline, section_marks
from copydesk.graphs.reports.timeline import Draft, Timeline, load_timeline

if TYPE_CHECKING:
    from copydesk.graphs.manager import ConversationManager

__all__ = ["DocumentDocxSummary", "export_document_docx", "write_document_docx"]

CONSISTENCY = "consistency"
"""Who the findings' comments are by."""


@dataclass(frozen=True)
class DocumentDocxSummary:
    """What the document holds."""

    sections: int
    insertions: int
    deletions: int
    comments: int


async def export_document_docx(
    manager: ConversationManager, thread_id: str, path: Path
) -> DocumentDocxSummary:
    """Read the long document of `thread_id` and write it as Word to `path`.

    Raises:
        UnknownThreadError: No such thread.
        DocxExportError: Not a document thread, or no complete draft yet.
    """
    document = await load_document(manager, thread_id)
    if document is None:
        raise DocxExportError(f"thread {thread_id!r} is not a long document")
    timeline = await load_timeline(manager, thread_id)
    return await asyncio.to_thread(write_document_docx, document, timeline, path)  # file I/O


def write_document_docx(
    document: DocumentView, timeline: Timeline, path: Path
) -> DocumentDocxSummary:
    """Write `document` (whose thread's drafts are `timeline`'s) to `path`.

    Raises:
        DocxExportError: The document has no complete draft yet.
    """
    if not timeline.drafts or not document.markdown:
        raise DocxExportError(
            f"thread {timeline.result.thread_id!r} has no complete draft yet; export it "
            "once its sections are assembled"
        )
    made = timeline.drafts[-1]
    out = docx.Document()
    out.core_properties.title = document.title[:250]
    out.core_properties.author = "copydesk"
    out.add_heading(document.title, level=0)
    ids = itertools.count(1000)  # tracked-change ids, clear of the comments' own numbering
    counts = {"insert": 0, "delete": 0, "comments": 0}
    for section in document.sections:
        heading = out.add_heading(section.heading, level=1)
        if not section.text:
            out.add_paragraph("(not written yet)")
            continue
        author = section.drafts[-1]["author"] if section.drafts else "section_writer"
        reviser = Draft(made.index, made.round, author, section.text, made.made_at, "")
        stretches = marked_redline(section.first, section.text, section_marks(document, section))
        runs, changes = _write(out, stretches, reviser, ids)
        counts["comments"] += _comment(out, document, section, runs, heading.runs[0])
        for run, kind in changes:  # after the comments: their range marks stay outside
            wrap_run(run, "w:ins" if kind == "insert" else "w:del", reviser, next(ids))
        for kind in ("insert", "delete"):  # a change cut by a passage's edge counts once
            counts[kind] += sum(
                key for key, _ in itertools.groupby(s.kind == kind for s in stretches)
            )
    if document.references:
        out.add_heading("References", level=1)
        for source in document.references:
            out.add_paragraph(f"[{source['number']}] {source['name']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(str(path))
    return DocumentDocxSummary(
        len(document.sections), counts["insert"], counts["delete"], counts["comments"]
    )


def _write(
    out: Document, stretches: list[Stretch], reviser: Draft, ids: itertools.count[int]
) -> tuple[dict[str, list[Run]], list[tuple[Run, str]]]:
    """Lay a section's stretches out as paragraphs; returns the runs under each mark and
    the runs to wrap as tracked changes."""
    paragraph = out.add_paragraph()
    marked: dict[str, list[Run]] = {}
    changes: list[tuple[Run, str]] = []
    for stretch in stretches:
        made: list[Run] = []
        if stretch.kind == "delete":
            run = deleted_run(paragraph, stretch.text)
            made.append(run)
        else:
            for part in re.split(r"(\n+)", stretch.text):
                if part.startswith("\n"):  # a paragraph break, however many newlines
                    if stretch.kind == "insert":
                        mark_inserted(paragraph, reviser, next(ids))
                    paragraph = out.add_paragraph()
                elif part:
                    made.append(paragraph.add_run(part))
        if stretch.kind != "equal":
            changes += [(run, stretch.kind) for run in made]
        for key in stretch.marks:
            marked.setdefault(key, []).extend(made)
    return marked, changes


def _comment(
    out: Document,
    document: DocumentView,
    section: SectionView,
    runs: dict[str, list[Run]],
    heading: Run,
) -> int:
    """A comment for each open issue of `section` and each finding quoting it, on its
    passage (on the heading, saying so, when the passage is not in the section)."""
    notes: list[tuple[str, str, str]] = []  # key, author, text
    for number, issue in enumerate(section.issues, 1):
        raised = [v["agent"] for v in section.verdicts if issue in v["issues"]]
        where = "" if f"i{number}" in runs else f' (quote not found: "{issue["quote"]}")'
        text = f"[{issue['severity']}] {issue['comment']}{where}"
        notes.append((f"i{number}", raised[-1] if raised else "section_editor", text))
    for finding in document.findings_in(section.index):
        key = f"f{finding.number}"
        others = [str(n) for n in finding.sections if n != section.index]
        also = f" (also in section {', '.join(others)})" if others else ""
        quoted = next(q["text"] for q in finding.quotes if q["section"] == section.index)
        where = "" if key in runs else f' (quote not found: "{quoted}")'
        text = f"[{finding.kind}] F{finding.number}{also}: {finding.comment}{where}"
        notes.append((key, CONSISTENCY, text))
    for key, author, text in notes:
        out.add_comment(runs.get(key) or [heading], text=text, author=author, initials="")
    return len(notes)
