"""Sources for citations: a user's text split into passages, the passages relevant to a
piece of writing, and whether a sentence is supported by a passage.

Lexical and deterministic: content words (lower-cased, three letters or more, common words
left out) decide relevance and support, so the same document and sources always give the
same passages and the same verdict on a citation. Plain data in and out (str, int, list,
dict), so sources can sit in a thread's checkpointed state.
"""

from __future__ import annotations

import re
from typing import TypedDict

__all__ = [
    "Citation",
    "SourceRecord",
    "citations",
    "content_words",
    "relevant_passages",
    "source_record",
    "split_passages",
    "support",
]

PASSAGE_WORDS = 120
"""About how many words a passage holds (a paragraph longer than this is split)."""

_COMMON = frozenset({
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "his", "how", "its", "may", "new", "now", "see", "two", "who",
    "did", "get", "let", "say", "she", "too", "use", "that", "with", "have", "this", "will",
    "your", "from", "they", "know", "want", "been", "good", "much", "some", "time", "very",
    "when", "come", "here", "just", "like", "long", "make", "many", "more", "only", "over",
    "such", "take", "than", "them", "well", "were", "what", "which", "their", "there", "these",
    "those", "would", "could", "should", "about", "after", "again", "also", "because", "before",
    "being", "between", "both", "each", "into", "most", "other", "same", "then", "through",
    "under", "until", "while", "where", "does", "done", "every", "first", "last", "least",
    "less",
})  # fmt: skip


class SourceRecord(TypedDict):
    """One source as a thread keeps it."""

    number: int
    """What citations call it: `[number]`."""
    name: str
    """Its file name."""
    passages: list[str]


class Citation(TypedDict):
    """One `[n]` in a text, with the sentence that cites it."""

    number: int
    sentence: str


def content_words(text: str) -> set[str]:
    """The words of `text` that carry its content, a plural's `s` dropped (`cranes` and
    `crane` are one word)."""
    words = re.findall(r"[a-z0-9][a-z0-9'-]+", text.lower())
    kept = (w for w in words if len(w) >= 3 and w not in _COMMON)
    return {w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w for w in kept}


def split_passages(text: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """`text` as passages: paragraphs (blank-line separated, Markdown headings dropped) of at
    most about `max_words` words; a longer paragraph is split between sentences."""
    passages: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        paragraph = " ".join(ln for ln in lines if not ln.startswith("#"))
        if not paragraph:
            continue
        current: list[str] = []
        for sentence in re.findall(r"[^.!?]+[.!?]*\s*", paragraph):
            if current and len(" ".join(current).split()) + len(sentence.split()) > max_words:
                passages.append(" ".join(current).strip())
                current = []
            current.append(sentence.strip())
        if current:
            passages.append(" ".join(current).strip())
    return passages


def source_record(number: int, name: str, text: str) -> SourceRecord:
    """A source numbered `number`, its text split into passages."""
    return {"number": number, "name": name, "passages": split_passages(text)}


def relevant_passages(sources: list[SourceRecord], query: str, k: int = 4) -> list[tuple[int, str]]:
    """The `k` passages sharing most content words with `query`, as (source number, passage),
    best first; passages that share none are left out."""
    wanted = content_words(query)
    scored = [
        (len(wanted & content_words(passage)), -s["number"], -i, s["number"], passage)
        for s in sources
        for i, passage in enumerate(s["passages"])
    ]
    scored.sort(reverse=True)
    return [(number, passage) for score, *_, number, passage in scored[:k] if score > 0]


def citations(text: str) -> list[Citation]:
    """Every `[n]` in `text`, with the sentence it follows (a citation after a sentence's
    full stop belongs to that sentence)."""
    found: list[Citation] = []
    for match in re.finditer(r"\[(\d+)\]", text):
        before = re.sub(r"\[\d+\]", "", text[: match.start()]).rstrip().rstrip(".!?")
        start = max(before.rfind(mark) for mark in (".", "!", "?", "\n")) + 1
        found.append({"number": int(match.group(1)), "sentence": before[start:].strip()})
    return found


def support(sentence: str, passages: list[str]) -> float:
    """The largest share of `sentence`'s content words found in one of `passages` (0 to 1)."""
    words = content_words(sentence)
    if not words:
        return 1.0  # nothing claimed
    return max((len(words & content_words(p)) / len(words) for p in passages), default=0.0)
