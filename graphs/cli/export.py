"""`copydesk export`: a thread's final draft and revision history as Markdown, JSON (with
its transcript) or Word (with tracked changes and the open issues as comments)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from copydesk.graphs.cli.common import (
    err,
    execute,
    open_manager,
    require_existing_store,
    require_new_file,
    settings_from_flags,
)
from copydesk.graphs.errors import InputError

if TYPE_CHECKING:
    from copydesk.graphs.manager import ConversationManager

__all__ = ["ExportFormat", "register"]


DOCUMENT = "document"
"""The long-document topology, whose Word export is its own."""


class ExportFormat(StrEnum):
    """Formats `copydesk export` writes."""

    md = "md"
    json = "json"
    docx = "docx"


_SUFFIX_FORMATS: dict[str, ExportFormat] = {
    ".md": ExportFormat.md,
    ".markdown": ExportFormat.md,
    ".json": ExportFormat.json,
    ".docx": ExportFormat.docx,
}
"""The format an `export -o` file's suffix names; any other suffix (or none) is Markdown."""


def _export_format(
    fmt: ExportFormat | None, output: Path | None, against: int | None
) -> ExportFormat:
    """The format `copydesk export` writes: `--format`, else the `-o` file's suffix, else md.

    Raises:
        InputError: `--format` contradicts the `-o` file's suffix, or `--against` is given
            for a format other than docx.
    """
    implied = _SUFFIX_FORMATS.get(output.suffix.lower()) if output is not None else None
    if fmt is not None and implied is not None and fmt is not implied:
        raise InputError(
            f"--format {fmt} contradicts -o {output}, whose suffix means {implied}; "
            f"pass --format {implied}, or leave --format out to follow the suffix"
        )
    chosen = fmt or implied or ExportFormat.md
    if against is not None and chosen is not ExportFormat.docx:
        raise InputError(
            f"--against applies to Word export only, not --format {chosen}; "
            "pass --format docx -o FILE.docx, or leave --against out"
        )
    return chosen


def export(
    thread_id: Annotated[str, typer.Argument(help="The thread to export.")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="md, json or docx (Word, needs -o); default: the -o file's suffix, else md.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    against: Annotated[
        int | None,
        typer.Option("--against", help="docx: track changes since this round (default: first)."),
    ] = None,
) -> None:
    """Export the final draft and its revision history (docx: with tracked changes and the
    open issues as comments)."""
    settings = settings_from_flags()
    fmt = _export_format(fmt, output, against)
    if fmt is ExportFormat.docx and output is None:
        err.print("copydesk: error: --format docx writes a file; pass -o FILE.docx")
        raise typer.Exit(2)
    if output is not None:
        require_new_file(output)

    async def work() -> str:
        require_existing_store(settings, thread_id)
        async with open_manager(settings) as manager:
            if fmt is ExportFormat.docx and output is not None:
                from copydesk.graphs.reports.docx_export import export_docx

                if (await manager.result(thread_id)).graph == DOCUMENT:
                    return await _document_docx(manager, thread_id, output, against)
                done = await export_docx(manager, thread_id, output, against=against)
                err.print(
                    f"wrote {output}: tracked changes since round {done.against_round} "
                    f"({done.insertions} inserted, {done.deletions} deleted), "
                    f"{done.comments} open issue(s) as comments",
                    markup=False,
                )
                return ""
            if fmt is ExportFormat.json:
                result = await manager.result(thread_id)
                lines = manager.transcript(thread_id).lines()
                return json.dumps({**result.as_json(), "transcript": lines}, indent=2)
            return await manager.export_markdown(thread_id)

    text = execute(work)
    if fmt is ExportFormat.docx:
        return
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


async def _document_docx(
    manager: ConversationManager, thread_id: str, output: Path, against: int | None
) -> str:
    """A long document as Word: a heading per section, changes since its first complete
    draft tracked per section, its open issues and findings as comments."""
    from copydesk.graphs.reports.document_docx import export_document_docx

    if against is not None:
        raise InputError(
            f"--against: thread {thread_id!r} is a long document, whose Word export tracks "
            "each section's changes since its first complete draft; leave --against out"
        )
    done = await export_document_docx(manager, thread_id, output)
    err.print(
        f"wrote {output}: {done.sections} section(s) with their changes since the first "
        f"complete draft tracked ({done.insertions} inserted, {done.deletions} deleted), "
        f"{done.comments} comment(s): open issues and consistency findings",
        markup=False,
    )
    return ""


def register(app: typer.Typer) -> None:
    """Add `copydesk export` to `app`."""
    app.command()(export)
