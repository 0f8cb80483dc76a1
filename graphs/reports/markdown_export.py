"""The Markdown export: the final draft and its revision history (`copydesk export THREAD`);
a long document's is its own (`copydesk.graphs.reports.document_markdown`).

Each round's draft is followed by the editor's verdict on it and each of its issues, marked
with where the issue stands now (open, addressed...; `copydesk.graphs.reports.issue_tracking`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from copydesk.graphs.events import RunResult
from copydesk.graphs.reports.issue_tracking import summarize, track_issues

__all__ = ["render_markdown"]


def render_markdown(
    values: Mapping[str, Any],
    *,
    thread_id: str,
    graph: str,
    result: RunResult | None = None,
) -> str:
    """The Markdown of a thread whose latest state values are `values`.

    Args:
        values: The thread's state values.
        thread_id: The thread (the title when the state has no topic).
        graph: The topology that wrote the state.
        result: Where the thread stands (its status; what ended an interrupted run, such as
            `timeout` or `stopped`); the state's status when None.
    """
    if graph == "document":  # the document itself, then its review notes
        from copydesk.graphs.reports.document_markdown import render_document_markdown

        return render_document_markdown(values, thread_id=thread_id)
    status = result.status if result else str(values.get("status", "?"))
    ended_by = result.ended_by if result and status == "interrupted" else ""
    verdicts = {v["round"]: v for v in values.get("verdicts") or []}
    tracked = track_issues(values.get("revisions") or [], values.get("verdicts") or [])
    states = {(i.round, i.quote, i.comment): i.state.replace("_", " ") for i in tracked}
    parts = [
        f"# {values.get('topic', thread_id)}",
        f"Thread `{thread_id}` · graph `{graph}` · status **{status}**"
        + (f" (ended by `{ended_by}`)" if ended_by else "")
        + f" · {values.get('round', 0)} round(s) · "
        + summarize(values.get("revisions"), values.get("verdicts")).describe(),
        "## Final draft",
        str(values.get("draft", "")),
        "## Revision history",
    ]
    for revision in values.get("revisions") or []:
        parts.append(f"### Round {revision['round']} ({revision['author']})")
        parts.append(revision["text"])
        verdict = verdicts.get(revision["round"])
        if verdict:
            parts.append(f"**Editor:** {verdict['decision']}. {verdict['summary']}")
            parts.extend(
                f'- [{i["severity"]}] "{i["quote"]}": {i["comment"]} '
                f"*({states.get((verdict['round'], i['quote'], i['comment']), 'open')})*"
                for i in verdict["issues"]
            )
    return "\n\n".join(parts) + "\n"
