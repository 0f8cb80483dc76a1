"""A thread's timeline: each draft with who wrote it, when, and the checkpoint it was saved in.

Drafts (`revisions` in the state) carry no time of their own; the checkpoint that first holds
a draft does. The timeline reads the thread's checkpoints oldest first and notes, for each
draft and each verdict, the first checkpoint that contains it. The review page draws the
timeline (and offers a fork from any checkpoint); the Word export dates its tracked changes
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from copydesk.graphs.events import CheckpointInfo, RunResult
from copydesk.graphs.reports.issue_tracking import (
    IssueSummary,
    TrackedIssue,
    summarize,
    track_issues,
)

if TYPE_CHECKING:
    from copydesk.graphs.manager import ConversationManager

__all__ = ["Draft", "Timeline", "load_timeline"]


@dataclass(frozen=True)
class Draft:
    """One draft of the thread."""

    index: int
    round: int
    author: str
    text: str
    made_at: str
    """ISO 8601 time of the checkpoint that first held this draft ("" if unknown)."""
    checkpoint_id: str
    """That checkpoint: fork from it to start over from this draft."""


@dataclass(frozen=True)
class Timeline:
    """Everything the review page and the Word export show about a thread."""

    result: RunResult
    topic: str
    drafts: list[Draft]
    verdicts: list[dict[str, Any]]
    verdict_times: list[str]
    """When each verdict was first saved (same order as `verdicts`)."""
    issues: list[TrackedIssue]
    checkpoints: list[CheckpointInfo]
    """Newest first, as `copydesk history` lists them."""

    summary: IssueSummary
    """The thread's issues counted by state, and the share addressed."""

    def draft_of_round(self, round_: int) -> Draft | None:
        """The last draft made by `round_` (the one a verdict of that round judged)."""
        found = None
        for draft in self.drafts:
            if draft.round <= round_:
                found = draft
        return found


async def load_timeline(manager: ConversationManager, thread_id: str) -> Timeline:
    """Read a thread's drafts, verdicts, issues and checkpoints.

    Raises:
        UnknownThreadError: No such thread.
    """
    result = await manager.result(thread_id)  # unknown thread -> UnknownThreadError
    checkpoints = await manager.history(thread_id)
    draft_seen: list[tuple[str, str]] = []  # (time, checkpoint id) per draft, in order
    verdict_seen: list[str] = []
    values: dict[str, Any] = {}
    for info in reversed(checkpoints):  # oldest first
        # Any topology reads any checkpoint of the thread's values: they share `DraftState`.
        graph = manager.graph(result.graph)
        config = {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": "",
                "checkpoint_id": info.checkpoint_id,
            }
        }
        values = dict((await graph.aget_state(config)).values)  # type: ignore[arg-type]
        for _ in range(len(draft_seen), len(values.get("revisions") or [])):
            draft_seen.append((info.created_at, info.checkpoint_id))
        for _ in range(len(verdict_seen), len(values.get("verdicts") or [])):
            verdict_seen.append(info.created_at)
    revisions = list(values.get("revisions") or [])
    verdicts = [dict(v) for v in values.get("verdicts") or []]
    drafts = [
        Draft(
            index=index,
            round=int(revision.get("round", 0)),
            author=str(revision.get("author", "writer")),
            text=str(revision.get("text", "")),
            made_at=draft_seen[index][0] if index < len(draft_seen) else "",
            checkpoint_id=draft_seen[index][1] if index < len(draft_seen) else "",
        )
        for index, revision in enumerate(revisions)
    ]
    return Timeline(
        result=result,
        topic=str(values.get("topic", "")),
        drafts=drafts,
        verdicts=verdicts,
        verdict_times=verdict_seen + [""] * (len(verdicts) - len(verdict_seen)),
        issues=track_issues(revisions, verdicts),
        checkpoints=checkpoints,
        summary=summarize(revisions, verdicts),
    )
