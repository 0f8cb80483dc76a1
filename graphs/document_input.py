"""What a long document starts from: the flags of `copydesk run document` (`--outline`,
`--sections`, `--words`, `--source`, `--review POINT`) checked and turned into the thread's
first state values.

Checked before anything is opened or written; each problem is one line naming the flag and
the fix (`InputError` or `OutlineError`, exit code 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from copydesk.agents.document import REVIEW_POINTS
from copydesk.agents.outline import DEFAULT_WORDS, MAX_SECTIONS, parse_outline
from copydesk.graphs.errors import InputError
from copydesk.memory.sources import source_record

__all__ = [
    "DOCUMENT_GRAPH",
    "MAX_WORDS",
    "MIN_WORDS",
    "TEXT_SUFFIXES",
    "document_inputs",
    "read_text_file",
    "review_points",
]

DOCUMENT_GRAPH = "document"
MIN_WORDS, MAX_WORDS = 100, 200_000
"""Bounds of `--words`: the whole document's target length."""
TEXT_SUFFIXES = frozenset({"", ".txt", ".text", ".md", ".markdown"})
"""What a `--source` file may be: plain text or Markdown."""


def read_text_file(path: Path, flag: str) -> str:
    """The text of `path`, which must be a non-empty UTF-8 text file.

    Raises:
        InputError: Missing, a folder, binary (not UTF-8, or with NUL bytes), or empty.
    """
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; name a text or Markdown file in it")
    if not path.is_file():
        raise InputError(f"{flag} {path} does not exist; check the path")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{flag} {path} cannot be read ({error.strerror}); check it") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise InputError(
            f"{flag} {path} is not text (binary data); give plain text or Markdown "
            "(convert PDF or Word files to .txt or .md first)"
        )
    if not text.strip():
        raise InputError(f"{flag} {path} is empty; give a file with text in it")
    return text


def document_inputs(
    graph: str,
    *,
    topic: str,
    outline: Path | None = None,
    sections: int | None = None,
    words: int | None = None,
    sources: list[Path] | None = None,
    review: Sequence[str] = (),
) -> dict[str, Any]:
    """The state values the document flags give (nothing when none is given).

    Args:
        graph: The graph the run is for; the flags apply to `document` only.
        topic: The run's topic (the outline's title when the file has none).
        outline: A Markdown outline file, taken as given.
        sections: How many sections the outliner plans.
        words: The document's target length in words.
        sources: Plain-text or Markdown files writers may cite, numbered from 1 in order.
        review: Where a document pauses for a human (`--review outline,final`): points of
            `REVIEW_POINTS`. Empty for none, or for the bare `--review` (which means `final`).

    Raises:
        InputError: A flag given to another graph, out of its range, an unusable file, or
            a review point that is not one.
        OutlineError: An outline file without headings, or with too many sections.
    """
    points = review_points(graph, review)
    given = [
        flag
        for flag, value in (
            ("--outline", outline),
            ("--sections", sections),
            ("--words", words),
            ("--source", sources or None),
        )
        if value is not None
    ]
    if not given:
        return {"review_points": points} if points else {}
    if graph != DOCUMENT_GRAPH:
        raise InputError(
            f"{', '.join(given)} applies to the document graph only, not {graph!r}; run "
            f"`copydesk run document ...`, or leave {', '.join(given)} out"
        )
    if sections is not None and outline is not None:
        raise InputError(
            "--sections does not apply with --outline: the outline's headings are the "
            "sections; leave --sections out"
        )
    if sections is not None and not 1 <= sections <= MAX_SECTIONS:
        raise InputError(f"--sections={sections}: use a number from 1 to {MAX_SECTIONS}")
    if words is not None and not MIN_WORDS <= words <= MAX_WORDS:
        raise InputError(f"--words={words}: use a number from {MIN_WORDS} to {MAX_WORDS}")
    values: dict[str, Any] = {"review_points": points} if points else {}
    if words is not None:
        values["words"] = words
    if sections is not None:
        values["sections_wanted"] = sections
    if outline is not None:
        text = read_text_file(outline, "--outline")
        values["outline"] = parse_outline(
            text, topic=topic, words=words or DEFAULT_WORDS, source=f"--outline {outline}"
        )
    if sources:
        values["sources"] = [
            source_record(n, path.name, _source_text(path)) for n, path in enumerate(sources, 1)
        ]
    return values


def review_points(graph: str, given: Sequence[str]) -> list[str]:
    """The review points of `--review POINT[,POINT]`, checked, in the order a run meets them.

    Raises:
        InputError: A point that is not one, or a point given to another graph.
    """
    named = [p.strip() for value in given for p in value.split(",") if p.strip()]
    for point in named:
        if point not in REVIEW_POINTS:
            raise InputError(
                f"--review {point}: a document pauses at {', '.join(REVIEW_POINTS)} (several "
                "with commas: --review outline,final), or use --review alone"
            )
    if named and graph != DOCUMENT_GRAPH:
        raise InputError(
            f"--review {','.join(named)} applies to the document graph only, not {graph!r}; "
            "use --review alone"
        )
    return [p for p in REVIEW_POINTS if p in named]


def _source_text(path: Path) -> str:
    if path.suffix.lower() not in TEXT_SUFFIXES and not path.is_dir():
        raise InputError(
            f"--source {path}: only plain text and Markdown are read (.txt, .md); convert "
            f"the {path.suffix} file to text first"
        )
    return read_text_file(path, "--source")
