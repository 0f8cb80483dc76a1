"""Outline points no section covers: each key point of the outline checked against the text
of every section, by wording and by meaning, with no model call.

A point is covered when one sentence of the document holds at least half of its content
words, or when the lexical embedder finds a sentence close to it (the `strong` threshold of
`copydesk.memory.support`). A point no sentence covers is a finding of kind `omission` for
the section whose brief lists it, and goes back to that section alone. Deterministic, so
the same document always gives the same omissions.
"""

from __future__ import annotations

import re

import numpy as np

from copydesk.agents.document import FindingRecord, OutlineRecord, SectionRecord
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.sources import content_words
from copydesk.memory.support import thresholds_for

__all__ = ["COVERED", "omissions"]

COVERED = 0.5
"""Share of a key point's content words one sentence must hold to cover it."""
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def omissions(outline: OutlineRecord, sections: list[SectionRecord]) -> list[FindingRecord]:
    """A finding for each key point of `outline` that no sentence of `sections` covers."""
    sentences = [
        s.strip() for section in sections for s in _SENTENCE.findall(section["text"]) if s.strip()
    ]
    points = [(b["index"], p) for b in outline["sections"] for p in b["key_points"]]
    written = {s["index"] for s in sections}
    points = [(n, p) for n, p in points if n in written and content_words(p)]
    if not points or not sentences:
        return [_omission(n, p) for n, p in points]
    words = [content_words(s) for s in sentences]
    embedder = LexicalEmbedder()
    vectors = embedder.embed([p for _, p in points] + sentences)
    near = vectors[len(points) :] @ vectors[: len(points)].T  # sentences x points
    strong = thresholds_for(embedder.name).strong
    found: list[FindingRecord] = []
    for column, (index, point) in enumerate(points):
        wanted = content_words(point)
        shared = max(len(wanted & w) for w in words) / len(wanted)
        if shared < COVERED and float(np.max(near[:, column])) < strong:
            found.append(_omission(index, point))
    return found


def _omission(index: int, point: str) -> FindingRecord:
    return {
        "kind": "omission",
        "quotes": [{"section": index, "text": ""}],
        "comment": f'no section covers the outline\'s key point "{point}"; cover it here',
    }
