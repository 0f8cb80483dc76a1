"""Credit each change of a redline to the draft that made it.

Between the first and the last draft of a chain there may be drafts in between: a word the
second draft added and the fourth kept is the second draft's insertion; a word of the first
draft that the third removed is the third's deletion. The chain is walked draft by draft with
the same word-level diff as `copydesk.graphs.reports.redline`, noting for every word of the last
draft the
draft that brought it in, and for every word of the first the draft that removed it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from difflib import SequenceMatcher

from copydesk.graphs.reports.redline import redline, tokens
from copydesk.graphs.reports.timeline import Draft

__all__ = ["Change", "credited_changes"]


@dataclass(frozen=True)
class Change:
    """A stretch of the redline: unchanged, or inserted or deleted by one draft."""

    kind: str
    """`equal`, `insert` or `delete`."""
    text: str
    draft: Draft | None
    """The draft that made an insertion or deletion (None for unchanged text)."""
    start: int | None
    """Where an unchanged or inserted stretch starts in the last draft (None: deleted)."""


def credited_changes(chain: list[Draft]) -> list[Change]:
    """The redline of the first draft of `chain` against its last, each change credited."""
    origin, death = _attribution(chain)
    final_tokens, base_tokens = tokens(chain[-1].text), tokens(chain[0].text)
    final_at = list(itertools.accumulate((len(t) for t in final_tokens), initial=0))
    base_at = list(itertools.accumulate((len(t) for t in base_tokens), initial=0))
    pieces: list[Change] = []
    for segment in redline(chain[0].text, chain[-1].text):
        if segment.kind == "equal":
            pieces.append(Change("equal", segment.text, None, segment.new_start))
            continue
        if segment.kind == "insert":
            assert segment.new_start is not None
            first = final_at.index(segment.new_start)
            owners = origin
            offsets = final_at
        else:
            assert segment.old_start is not None
            first = base_at.index(segment.old_start)
            owners = [d if d is not None else len(chain) - 1 for d in death]
            offsets = base_at
        last = offsets.index(offsets[first] + len(segment.text))
        texts = final_tokens if segment.kind == "insert" else base_tokens
        credited = _smoothed([owners[t] for t in range(first, last)], texts[first:last])
        numbered = zip(range(first, last), credited, strict=True)
        for owner, group in itertools.groupby(numbered, key=lambda pair: pair[1]):
            members = [t for t, _ in group]
            text = segment.text[
                offsets[members[0]] - offsets[first] : offsets[members[-1] + 1] - offsets[first]
            ]
            start = offsets[members[0]] if segment.kind == "insert" else None
            pieces.append(Change(segment.kind, text, chain[owner], start))
    return pieces


def _smoothed(owners: list[int], texts: list[str]) -> list[int]:
    """Whitespace between two words of one draft goes with them, so a space two drafts
    happen to share does not split that draft's change in two."""
    out = list(owners)
    words = [i for i, text in enumerate(texts) if text.strip()]
    for before, after in itertools.pairwise(words):
        if owners[before] == owners[after]:
            for i in range(before + 1, after):
                out[i] = owners[before]
    return out


def _attribution(chain: list[Draft]) -> tuple[list[int], list[int | None]]:
    """For each token of the last draft, the draft (index in `chain`) that brought it in; for
    each token of the first, the draft that removed it (None: never removed)."""
    current = tokens(chain[0].text)
    origin = [0] * len(current)
    base_of: list[int | None] = list(range(len(current)))
    death: list[int | None] = [None] * len(current)
    for step in range(1, len(chain)):
        following = tokens(chain[step].text)
        matcher = SequenceMatcher(None, current, following, autojunk=False)
        next_origin = [step] * len(following)
        next_base: list[int | None] = [None] * len(following)
        kept: set[int] = set()
        for a, b, size in matcher.get_matching_blocks():
            for t in range(size):
                next_origin[b + t], next_base[b + t] = origin[a + t], base_of[a + t]
                kept.add(a + t)
        for position, base_token in enumerate(base_of):
            if base_token is not None and position not in kept:
                death[base_token] = step
        current, origin, base_of = following, next_origin, list(next_base)
    return origin, death
