"""The Markdown export of a long document (`copydesk export THREAD` on a `document` thread):
the document itself as last assembled (its title, a `## ` heading per section, the
references), then, below a rule, the review notes: where each section stands, the issues
still open in each, and the consistency findings with the passages they quote."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copydesk.graphs.reports.document_view import document_view

__all__ = ["render_document_markdown"]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_document_markdown(values: Mapping[str, Any], *, thread_id: str) -> str:
    """The Markdown of a document thread whose latest state values are `values`."""
    document = document_view(values)
    parts = [
        document.markdown.strip() or f"# {document.title or thread_id}\n\n(no complete draft yet)",
        "---",
        "# Review notes",
        f"Thread `{thread_id}` · graph `document` · status **{values.get('status', '?')}** · "
        f"{len(document.sections)} section(s) · {len(document.findings)} consistency "
        f"finding(s) · {document.summary.describe()}",
        "| section | state | rounds | open issues |\n| --- | --- | --- | --- |\n"
        + "\n".join(
            f"| {s.index}. {_cell(s.heading)} | {s.label} | {s.rounds} | {len(s.issues)} |"
            for s in document.sections
        ),
    ]
    open_ = [s for s in document.sections if s.issues]
    if open_:
        parts.append("## Open issues")
        for section in open_:
            parts.append(f"### {section.index}. {section.heading}")
            parts.append(
                "\n".join(
                    f'- [{i["severity"]}] "{_cell(i["quote"])}": {_cell(i["comment"])}'
                    for i in section.issues
                )
            )
    if document.findings:
        parts.append("## Consistency findings")
        parts.append(
            "\n".join(
                f"{f.number}. **{f.kind}**: {_cell(f.comment)}\n"
                + "\n".join(f'   - section {q["section"]}: "{_cell(q["text"])}"' for q in f.quotes)
                for f in document.findings
            )
        )
    return "\n\n".join(parts) + "\n"
