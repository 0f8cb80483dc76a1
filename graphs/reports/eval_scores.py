"""The deterministic scores of one finished thread: what `copydesk eval` measures without a judge.

- **issues_addressed**: the share of the editors' quoted issues whose passage the next draft
  changed (`issue_tracking`).
- **regression_rate**: the words of each draft that the next draft changed although no issue
  quoted or asked about them, as a share of the earlier drafts' words. A change is asked for
  when it falls in a paragraph that holds an issue's quote, or whose content words an issue's
  comment names (two or more, half the comment's or more). Words are aligned with difflib
  over the two drafts, so a rewritten paragraph counts all its words and an untouched one
  none. None for a thread with a single draft.
- **approved_removed**: the share of sentences of drafts an approving verdict judged that are
  missing from the final draft (what a later revision took from approved text).
- **readability**: Flesch reading ease of the final draft, and its grade level
  (Flesch-Kincaid). textstat counts the words and sentences; syllables are counted with
  pyphen's English hyphenation, textstat's own fallback, because textstat 0.7.13 fetches
  NLTK's CMU dictionary from the internet the first time it counts English syllables (it
  fails with no network, and a score must not depend on one).
- **length_error**: |words - target| / target, when the case sets a target.
- **repeated_ngrams**: the share of the final draft's word trigrams that repeat an earlier one.
- **citation_validity**: the share of `[n]` citations that name a given source and whose
  sentence that source supports (`copydesk.memory.sources.support` >= 0.5), when sources are
  given.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from copydesk.graphs.reports.issue_tracking import find_quote, judged_revision, summarize_thread
from copydesk.memory.sources import SourceRecord, citations, content_words, support

__all__ = ["DraftScores", "readability", "regression", "score_thread"]

_WORD = re.compile(r"\S+")
_SUPPORTED = 0.5


@dataclass(frozen=True)
class DraftScores:
    """The deterministic scores of one thread (None where a score does not apply)."""

    issues_addressed: float | None
    regression_rate: float | None
    approved_removed: float | None
    readability: float
    grade_level: float
    length_error: float | None
    repeated_ngrams: float
    citation_validity: float | None
    by_round: Mapping[int, float]
    """Readability of the draft each round ended with."""

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "by_round"} | {
            "by_round": {str(k): v for k, v in self.by_round.items()}
        }


@lru_cache(maxsize=1)
def _hyphenator() -> Any:
    import pyphen

    return pyphen.Pyphen(lang="en_US")


def _syllables(word: str) -> int:
    letters = re.sub(r"[^a-z]", "", word.lower())
    return len(_hyphenator().positions(letters)) + 1 if letters else 0


def readability(text: str) -> tuple[float, float]:
    """(Flesch reading ease, Flesch-Kincaid grade) of `text`; (0, 0) for an empty text."""
    import textstat

    words = textstat.lexicon_count(text)
    if not words:
        return 0.0, 0.0
    sentences = max(1, textstat.sentence_count(text))
    syllables = sum(_syllables(w) for w in text.split())
    per_sentence, per_word = words / sentences, syllables / words
    ease = 206.835 - 1.015 * per_sentence - 84.6 * per_word
    grade = 0.39 * per_sentence + 11.8 * per_word - 15.59
    return round(ease, 2), round(grade, 2)


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", text, re.S)]


def _asked_paragraphs(text: str, issues: Sequence[Mapping[str, Any]]) -> set[int]:
    """Indexes of the paragraphs of `text` an issue quotes or asks about by its words."""
    spans = _paragraph_spans(text)
    asked: set[int] = set()
    for issue in issues:
        where = find_quote(text, str(issue.get("quote", "")))
        comment = content_words(str(issue.get("comment", "")))
        for n, (start, end) in enumerate(spans):
            quoted = where is not None and where[0] < end and where[1] > start
            named = comment & content_words(text[start:end])
            if quoted or (len(named) >= 2 and len(named) >= len(comment) / 2):
                asked.add(n)
    return asked


def regression(before: str, after: str, issues: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(words of `before` changed by `after` in paragraphs no issue asked about, words of
    `before`)."""
    words = list(_WORD.finditer(before))
    if not words:
        return 0, 0
    kept = [False] * len(words)
    matcher = difflib.SequenceMatcher(
        None, [w.group() for w in words], _WORD.findall(after), autojunk=False
    )
    for block in matcher.get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            kept[i] = True
    spans = _paragraph_spans(before)
    asked = _asked_paragraphs(before, issues)

    def paragraph(position: int) -> int:
        return next((n for n, (s, e) in enumerate(spans) if s <= position < e), -1)

    changed = sum(
        1 for w, k in zip(words, kept, strict=True) if not k and paragraph(w.start()) not in asked
    )
    return changed, len(words)


def _issues_of(
    verdicts: Sequence[Mapping[str, Any]], revisions: Sequence[Any], n: int
) -> list[Any]:
    """The issues of every verdict that judged revision `n`."""
    return [
        issue
        for v in verdicts
        if judged_revision(revisions, int(v.get("round", 0))) == n
        for issue in v.get("issues") or []
    ]


def _sentences(text: str) -> set[str]:
    return {" ".join(s.split()) for s in re.findall(r"[^.!?\n]+[.!?]", text) if s.strip()}


def score_thread(
    values: Mapping[str, Any],
    *,
    words: int | None = None,
    sources: Sequence[SourceRecord] = (),
) -> DraftScores:
    """The deterministic scores of a finished thread's values (its checkpointed state)."""
    revisions = list(values.get("revisions") or [])
    verdicts = list(values.get("verdicts") or [])
    final = str(values.get("draft") or (revisions[-1]["text"] if revisions else ""))
    changed = total = 0
    for n in range(len(revisions) - 1):
        issues = _issues_of(verdicts, revisions, n)
        c, t = regression(str(revisions[n]["text"]), str(revisions[n + 1]["text"]), issues)
        changed, total = changed + c, total + t
    approved = [
        str(revisions[j]["text"])
        for v in verdicts
        if v.get("decision") == "approve"
        and (j := judged_revision(revisions, int(v.get("round", 0)))) is not None
        and j < len(revisions) - 1
    ]
    kept_sentences = _sentences(final)
    approved_sentences = [s for text in approved for s in _sentences(text)]
    ease, grade = readability(final)
    tokens = [w.lower() for w in re.findall(r"[A-Za-z0-9']+", final)]
    trigrams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
    return DraftScores(
        issues_addressed=summarize_thread(values).share,
        regression_rate=round(changed / total, 4) if total else None,
        approved_removed=round(
            sum(s not in kept_sentences for s in approved_sentences) / len(approved_sentences), 4
        )
        if approved_sentences
        else None,
        readability=ease,
        grade_level=grade,
        length_error=round(abs(len(final.split()) - words) / words, 4) if words else None,
        repeated_ngrams=round(1 - len(set(trigrams)) / len(trigrams), 4) if trigrams else 0.0,
        citation_validity=_citation_validity(final, sources) if sources else None,
        by_round={
            int(r.get("round", n)): readability(str(r["text"]))[0] for n, r in enumerate(revisions)
        },
    )


def _citation_validity(text: str, sources: Sequence[SourceRecord]) -> float | None:
    passages = {s["number"]: s["passages"] for s in sources}
    cited = citations(text)
    if not cited:
        return None
    valid = sum(
        c["number"] in passages and support(c["sentence"], passages[c["number"]]) >= _SUPPORTED
        for c in cited
    )
    return round(valid / len(cited), 4)
