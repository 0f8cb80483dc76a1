"""A long document as people take it away: `run --json`'s `final_draft`; `copydesk export` as
Markdown (the document, then its review notes) and as Word (a heading per section, each
section's changes since the first complete draft tracked, open issues and consistency
findings as comments on their passages), read back as XML and by LibreOffice."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest

from copydesk.agents.client import OpenAIClient
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.reports.document_docx import export_document_docx, write_document_docx
from copydesk.graphs.reports.document_markdown import render_document_markdown
from copydesk.graphs.reports.document_view import FindingView, load_document
from copydesk.graphs.reports.docx_export import DocxExportError
from copydesk.graphs.reports.timeline import load_timeline
from tests._cli import in_process_cli
from tests.fakes import FakeOpenAIServer
from tests.fakes.documents import DocumentResponder, headings
from tests.fakes.harbour_report import seed
from tests.test_docx_export import (  # noqa: F401 (soffice: a fixture)
    changes,
    comments,
    final_text,
    libreoffice_reads,
    soffice,
)


async def test_a_writers_own_headings_nest_under_its_section(make_settings: Any) -> None:
    """A section that starts with its own heading and holds headings of its own: the
    document keeps one `## ` heading per section, the writer's nested below it."""
    texts = {
        "Harbours": "## Harbours\n\nQuays at night.\n\n# Big picture\n\nShips.\n\n"
        "## Detail\n\nRopes.",
        "Cranes": "Cranes lift boxes.\n\n### Already deep\n\nHooks.",
    }
    responder = DocumentResponder(reviews=0, script=lambda heading, n, task: texts[heading])
    settings = make_settings(checkpoint_url="memory:")
    with FakeOpenAIServer() as server:
        server.responder = responder
        async with (
            OpenAIClient(base_url=server.base_url) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            result = await manager.run("document", topic="ports", inputs={"sections_wanted": 2})
    assert headings(result.final_draft) == ["Harbours", "Cranes"]
    assert result.final_draft == (
        "# A report on ports\n\n## Harbours\n\nQuays at night.\n\n### Big picture\n\nShips.\n\n"
        "### Detail\n\nRopes.\n\n## Cranes\n\nCranes lift boxes.\n\n### Already deep\n\nHooks.\n"
    )


@pytest.fixture
async def report(make_settings: Any, home: Path, tmp_path: Path) -> Path:
    """The night-port report, finished in `home` (memory off: no embedder to match later)."""
    with FakeOpenAIServer() as server:
        await seed(server, make_settings(openai_base_url=server.base_url, memory=False), tmp_path)
    return tmp_path


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("COPYDESK_MEMORY", "0")
    yield from in_process_cli(home, monkeypatch)


def test_markdown_export_is_the_document_then_its_review_notes(report: Path, cli: Any) -> None:
    done = cli("export", "report")
    assert done.exit_code == 0, done.output
    document, notes = done.stdout.split("\n\n---\n\n")
    assert headings(document) == ["Harbours", "Cranes", "Tides", "References"]
    assert document.startswith("# The night port\n\n## Harbours\n\nThe harbour at Rotterdam")
    assert document.endswith("## References\n\n[1] port-figures.md")
    assert notes.startswith("# Review notes\n\nThread `report` · graph `document`")
    assert "| 2. Cranes | approved, revised for consistency | 2 | 0 |" in notes
    assert "| 3. Tides | out of rounds | 2 | 1 |" in notes
    assert '### 3. Tides\n\n- [major] "A draft of 20 metres needs high water": Say which' in notes
    assert (
        "1. **contradiction**: Section 1 starts the night shift at 22:00, section 2 at 23:00.\n"
        '   - section 1: "the night shift starts at 22:00"\n'
        '   - section 2: "The night shift starts at 23:00"'
    ) in notes
    blank = render_document_markdown({"status": "running"}, thread_id="new")
    assert blank.startswith("# new\n\n(no complete draft yet)\n\n---\n\n# Review notes")


def test_word_export_tracks_each_sections_changes_and_comments_on_the_passages(
    report: Path, cli: Any
) -> None:
    done = cli("export", "report", "-o", str(report / "report.docx"))
    assert done.exit_code == 0, done.output
    assert "3 section(s) with their changes since the first complete draft tracked " in done.stderr
    assert "(2 inserted, 2 deleted), 5 comment(s)" in done.stderr
    document = docx.Document(str(report / "report.docx"))
    styled = [(p.style.name, p.text) for p in document.paragraphs if p.style.name != "Normal"]
    assert styled == [
        ("Title", "The night port"),
        ("Heading 1", "Harbours"),
        ("Heading 1", "Cranes"),
        ("Heading 1", "Tides"),
        ("Heading 1", "References"),
    ]
    found = [(kind, text, author) for kind, text, author, _ in changes(report / "report.docx")]
    assert found == [
        ("del", "box", "section_writer"),
        ("ins", "container", "section_writer"),
        ("del", "23", "section_writer"),
        ("ins", "22", "section_writer"),
    ]
    accepted = final_text(report / "report.docx")
    assert (
        "Each crane moves a container in about 90 seconds. The night shift starts at 22:00"
        in accepted
    )
    assert "<script>window.__xss=1</script>" in accepted  # text, as written
    assert comments(report / "report.docx", deleted=True) == [
        ("consistency", "[contradiction] F1 (also in section 2): Section 1 starts the night "
         "shift at 22:00, section 2 at 23:00.", "the night shift starts at 22:00"),
        ("consistency", "[terminology] F2 (also in section 2): Say container, as section 1 "
         "does, not box.", "14 million containers a year"),
        ("consistency", "[contradiction] F1 (also in section 1): Section 1 starts the night "
         "shift at 22:00, section 2 at 23:00.", "The night shift starts at 2322:00"),
        ("consistency", "[terminology] F2 (also in section 1): Say container, as section 1 "
         "does, not box.", "Each crane moves a box"),
        ("section_editor", "[major] Say which ships.", "A draft of 20 metres needs high water"),
    ]  # fmt: skip
    again = cli("export", "report", "--against", "1", "-o", str(report / "since.docx"))
    assert again.exit_code == 2 and "is a long document" in again.stderr
    assert not (report / "since.docx").exists()


async def test_word_export_edges(report: Path, make_settings: Any) -> None:
    """A section not written yet, a finding whose passage is gone from both texts (its
    comment on the heading, saying so), no complete draft, a thread of another topology."""
    async with ConversationManager(make_settings(memory=False)) as manager:
        view = await load_document(manager, "report")
        timeline = await load_timeline(manager, "report")
        assert view is not None
        with pytest.raises(DocxExportError, match="'trams' is not a long document"):
            await export_document_docx(manager, "trams", report / "t.docx")
    harbours, cranes, tides = view.sections
    stray = FindingView(3, "repetition", "Said twice.", [{"section": 2, "text": "not there"}])
    vague = {"severity": "minor", "quote": "nowhere", "comment": "Hm."}
    edited = dataclasses.replace(
        view,
        sections=[
            dataclasses.replace(harbours, text=f"{harbours.text}\n\nA new paragraph."),
            dataclasses.replace(cranes, issues=[vague]),
            dataclasses.replace(tides, text=""),
        ],
        findings=[stray],
        references=[],
    )
    done = write_document_docx(edited, timeline, report / "e.docx")
    assert (done.sections, done.insertions, done.comments) == (3, 3, 2)
    paragraphs = [p.text for p in docx.Document(str(report / "e.docx")).paragraphs]
    assert "(not written yet)" in paragraphs and "References" not in paragraphs
    assert ("ins", "A new paragraph.") in [c[:2] for c in changes(report / "e.docx")]
    assert comments(report / "e.docx", deleted=True) == [
        ("section_editor", '[minor] Hm. (quote not found: "nowhere")', "Cranes"),
        ("consistency", '[repetition] F3: Said twice. (quote not found: "not there")', "Cranes"),
    ]
    with pytest.raises(DocxExportError, match="has no complete draft yet"):
        write_document_docx(dataclasses.replace(view, markdown=""), timeline, report / "n.docx")
    assert not (report / "n.docx").exists()


@pytest.mark.libreoffice
def test_libreoffice_reads_a_documents_headings_changes_and_comments(
    report: Path,
    cli: Any,
    soffice: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """LibreOffice converts the export to PDF, and to flat ODF with its headings, its
    tracked changes and its comments."""
    assert cli("export", "report", "-o", str(report / "r.docx")).exit_code == 0
    flat = libreoffice_reads(soffice, report / "r.docx")
    assert flat.count("<text:changed-region") == 4
    assert flat.count("<office:annotation>") + flat.count("<office:annotation ") == 5
    assert re.search(
        r'<text:h text:style-name="[^"]*" text:outline-level="1">Cranes</text:h>', flat
    )
    assert "Say which ships." in flat and "<dc:creator>consistency</dc:creator>" in flat
