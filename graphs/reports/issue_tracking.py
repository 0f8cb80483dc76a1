"""Issue tracking across revisions: did the writer's next draft change what the editor quoted?

Each verdict judges one draft: the latest revision made by its round (every writing turn,
the writer's or a proofreader's, starts a new round). Each issue of that verdict is then

    addressed     the quoted passage is in the judged draft and gone from the next one
    still_there   the next draft still contains the quoted passage
    open          no later draft exists yet (the issue stands against the current draft)
    unanchored    no quote, or a quote the judged draft does not contain (nothing to follow)

Matching ignores differences in whitespace and the quotation marks a model may wrap a quote
in; it is otherwise exact. The thread's share of issues addressed is addressed / (addressed +
still_there): a writing-quality signal that needs no judge model.

A long document is followed section by section: each section keeps its own drafts and the
verdicts on them (its editor's, a human's, and the consistency findings that quote it), so
an issue is followed from the section draft it quotes to that section's next draft.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "IssueState",
    "IssueSummary",
    "TrackedIssue",
    "find_quote",
    "judged_revision",
    "summarize",
    "summarize_thread",
    "track_issues",
]

IssueState = Literal["addressed", "still_there", "open", "unanchored"]

_WRAPPERS = "\"'“”‘’«»… \t\n"


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` stands in `text` (start, end), whitespace-insensitively; None if absent."""
    words = quote.strip(_WRAPPERS).removeprefix("...").removesuffix("...").split()
    if not words:
        return None
    match = re.search(r"\s+".join(re.escape(word) for word in words), text)
    return (match.start(), match.end()) if match else None


def judged_revision(revisions: Sequence[Mapping[str, Any]], round_: int) -> int | None:
    """Index of the draft a verdict of `round_` judged: the last one made by that round."""
    found = None
    for index, revision in enumerate(revisions):
        if int(revision.get("round", 0)) <= round_:
            found = index
    return found


@dataclass(frozen=True)
class TrackedIssue:
    """One editor issue and what became of its passage."""

    verdict: int
    """Index of its verdict in the thread's verdicts."""
    round: int
    agent: str
    severity: str
    quote: str
    comment: str
    revision: int | None
    """Index of the draft it is about (None when the verdict came before any draft)."""
    state: IssueState


def track_issues(
    revisions: Sequence[Mapping[str, Any]], verdicts: Sequence[Mapping[str, Any]]
) -> list[TrackedIssue]:
    """Every issue of every verdict, oldest first, with its state."""
    tracked = []
    for number, verdict in enumerate(verdicts):
        round_ = int(verdict.get("round", 0))
        judged = judged_revision(revisions, round_)
        following = judged + 1 if judged is not None and judged + 1 < len(revisions) else None
        for issue in verdict.get("issues") or []:
            quote = str(issue.get("quote", ""))
            state: IssueState
            if judged is None or find_quote(str(revisions[judged]["text"]), quote) is None:
                state = "unanchored"
            elif following is None:
                state = "open"
            elif find_quote(str(revisions[following]["text"]), quote) is None:
                state = "addressed"
            else:
                state = "still_there"
            tracked.append(
                TrackedIssue(
                    verdict=number,
                    round=round_,
                    agent=str(verdict.get("agent", "")),
                    severity=str(issue.get("severity", "")),
                    quote=quote,
                    comment=str(issue.get("comment", "")),
                    revision=judged,
                    state=state,
                )
            )
    return tracked


@dataclass(frozen=True)
class IssueSummary:
    """A thread's issues counted by state, and the share addressed."""

    addressed: int = 0
    still_there: int = 0
    open: int = 0
    unanchored: int = 0

    @property
    def share(self) -> float | None:
        """addressed / (addressed + still_there); None when no issue could be followed."""
        followed = self.addressed + self.still_there
        return round(self.addressed / followed, 4) if followed else None

    def __add__(self, other: IssueSummary) -> IssueSummary:
        return IssueSummary(
            self.addressed + other.addressed,
            self.still_there + other.still_there,
            self.open + other.open,
            self.unanchored + other.unanchored,
        )

    def as_json(self) -> dict[str, Any]:
        """`{share, addressed, still_there, open, unanchored}` (the `issues_addressed` field)."""
        return {"share": self.share, **asdict(self)}

    def describe(self) -> str:
        """One line for people, e.g. `3 of 4 issues addressed (75%); 1 still open`."""
        followed = self.addressed + self.still_there
        text = (
            f"{self.addressed} of {followed} issues addressed ({self.share:.0%})"
            if self.share is not None
            else "no issue could be followed to a next draft"
        )
        extra = [f"{self.open} still open"] if self.open else []
        extra += [f"{self.unanchored} without a quote in the draft"] if self.unanchored else []
        return "; ".join([text, *extra])


def summarize(
    revisions: Sequence[Mapping[str, Any]] | None, verdicts: Sequence[Mapping[str, Any]] | None
) -> IssueSummary:
    """Count a thread's issues by state."""
    counts = {"addressed": 0, "still_there": 0, "open": 0, "unanchored": 0}
    for issue in track_issues(revisions or [], verdicts or []):
        counts[issue.state] += 1
    return IssueSummary(**counts)


def summarize_thread(values: Mapping[str, Any]) -> IssueSummary:
    """Count a thread's issues by state: its own verdicts', and each section's of a long
    document (`sections`, each with its `revisions` and `verdicts`)."""
    total = summarize(values.get("revisions"), values.get("verdicts"))
    for section in values.get("sections") or []:
        total += summarize(section.get("revisions"), section.get("verdicts"))
    return total
