"""Word-level redlines: what changed between two drafts, as insertions and deletions.

A draft is split into words, punctuation marks and runs of whitespace, and the two token
lists are compared with `difflib.SequenceMatcher` (no junk heuristic: drafts are short and
every word matters). The result is a list of `Segment`s that, read in order, give the old
text (equal + delete) or the new text (equal + insert). The web page draws them as
`<ins>`/`<del>`, the Word export as tracked changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

__all__ = ["Segment", "SegmentKind", "new_text", "old_text", "redline", "tokens"]

SegmentKind = Literal["equal", "insert", "delete"]

_TOKEN = re.compile(r"\w+(?:['’]\w+)*|\s+|[^\w\s]")


@dataclass(frozen=True)
class Segment:
    """A stretch of text that both drafts share, or that one of them alone has."""

    kind: SegmentKind
    text: str
    new_start: int | None = None
    """Where an `equal` or `insert` segment starts in the new text (None for a deletion)."""
    old_start: int | None = None
    """Where an `equal` or `delete` segment starts in the old text (None for an insertion)."""


def tokens(text: str) -> list[str]:
    """Words, punctuation marks and whitespace runs; joined they give `text` back."""
    return _TOKEN.findall(text)


def redline(old: str, new: str) -> list[Segment]:
    """The word-level changes that turn `old` into `new`.

    A replacement comes out as its deletion followed by its insertion. Whitespace alone
    between two changes is folded into them, so "a b c" -> "x y z" reads as one change,
    not three.
    """
    before, after = tokens(old), tokens(new)
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    raw: list[tuple[SegmentKind, str, str]] = []  # kind, old text, new text
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(before[i1:i2]), "".join(after[j1:j2])
        if tag == "equal":
            raw.append(("equal", removed, added))
        else:
            raw.append(("delete", removed, added))  # a change: both sides, possibly one empty
    return _positions(_fold_whitespace(raw))


def _fold_whitespace(raw: list[tuple[SegmentKind, str, str]]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for index, (kind, removed, added) in enumerate(raw):
        between_changes = 0 < index < len(raw) - 1 and kind == "equal" and not removed.strip()
        joins = between_changes or kind != "equal"
        if joins and out and out[-1][0] == "change":
            out[-1] = ("change", out[-1][1] + removed, out[-1][2] + added)
        else:
            out.append(("change" if kind != "equal" else "equal", removed, added))
    return out


def _positions(folded: list[tuple[str, str, str]]) -> list[Segment]:
    segments: list[Segment] = []
    old_at = new_at = 0
    for kind, removed, added in folded:
        if kind == "equal":
            segments.append(Segment("equal", added, new_at, old_at))
        else:
            if removed:
                segments.append(Segment("delete", removed, None, old_at))
            if added:
                segments.append(Segment("insert", added, new_at, None))
        old_at += len(removed)
        new_at += len(added)
    return segments


def old_text(segments: list[Segment]) -> str:
    """The earlier draft, read back from a redline."""
    return "".join(s.text for s in segments if s.kind != "insert")


def new_text(segments: list[Segment]) -> str:
    """The later draft, read back from a redline."""
    return "".join(s.text for s in segments if s.kind != "delete")
