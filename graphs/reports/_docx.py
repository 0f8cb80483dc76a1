"""Tracked changes in WordprocessingML, which python-docx has no API for: a run wrapped in
`w:ins` or `w:del`, and a paragraph mark tracked as inserted, each credited to a draft's
author and dated when that draft was saved."""

from __future__ import annotations

from datetime import UTC, datetime

from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from copydesk.graphs.reports.timeline import Draft

__all__ = ["change_element", "deleted_run", "mark_inserted", "word_date", "wrap_run"]


def change_element(tag: str, draft: Draft | None, number: int) -> BaseOxmlElement:
    """A `w:ins` or `w:del` numbered `number`, credited to `draft`'s author at its time."""
    element = OxmlElement(tag)
    element.set(qn("w:id"), str(number))
    element.set(qn("w:author"), draft.author if draft else "copydesk")
    element.set(qn("w:date"), word_date(draft.made_at if draft else ""))
    return element


def deleted_run(paragraph: Paragraph, text: str) -> Run:
    """A run at the end of `paragraph` holding `text` as deleted text (its line breaks as
    spaces); wrap it in `w:del` to track it."""
    run = paragraph.add_run()
    deleted = OxmlElement("w:delText")
    deleted.set(qn("xml:space"), "preserve")
    deleted.text = " ".join(text.splitlines()) or " "
    run._r.append(deleted)
    return run


def wrap_run(run: Run, tag: str, draft: Draft | None, number: int) -> None:
    """Put `run` inside a tracked change (`w:ins` or `w:del`) where it stands."""
    change = change_element(tag, draft, number)
    run._r.addprevious(change)
    change.append(run._r)


def mark_inserted(paragraph: Paragraph, draft: Draft | None, number: int) -> None:
    """Track `paragraph`'s mark (its break) as inserted."""
    properties = paragraph._p.get_or_add_pPr()
    marks = OxmlElement("w:rPr")
    marks.append(change_element("w:ins", draft, number))
    properties.append(marks)


def word_date(iso: str) -> str:
    """`2026-12-02T11:32:58.29+00:00` -> `2026-12-02T11:32:58Z` (Word's form); now if unknown."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
