"""What the offline model writes for a long document: the outline, one section's body, a
section's digest, and the consistency editor's findings on the sections (or the digests) in
front of it.

Plain functions of the task in front of it, read by the markers of
`copydesk.prompts.markers`, so the same task always gives the same text and each section's
text is its own (built from its heading and key points). A section revision is the usual
revision (`roles.write_revision`) on the section's heading.
"""

from __future__ import annotations

import re
from typing import Any

from copydesk.agents.client.offline._task import field
from copydesk.prompts.markers import (
    DRAFT_CLOSE,
    DRAFT_OPEN,
    KEY_POINTS_FIELD,
    SECTION_FIELD,
    SECTIONS_FIELD,
    SOURCES_HEADING,
    TOPIC_FIELD,
    WORDS_FIELD,
)

__all__ = ["digest", "findings", "outline", "write_section"]

_ASPECTS = (
    ("Background", "where {t} comes from and why it is on the table now"),
    ("The case for it", "what {t} promises and who gains from it"),
    ("How it works in practice", "the moving parts of {t} day to day"),
    ("Costs and trade-offs", "what {t} costs and what it asks people to give up"),
    ("Risks and open questions", "what could go wrong with {t} and what nobody knows yet"),
    ("Lessons from elsewhere", "what others who tried {t} learned"),
    ("What to do next", "the first steps toward {t} and how to judge them"),
)
_POINT_WORDS = ("scope", "evidence", "people", "timing")
_MOVES = (
    "The first thing to see about {p} is that it sets the terms for everything that follows.",
    "Looked at closely, {p} turns on choices that are easy to postpone and costly to skip.",
    "People who work with {p} every day describe it in plainer terms than reports do.",
    "What matters most about {p} is how it changes the next decision, not the last one.",
)


def _number(task: str, label: str, default: int) -> int:
    found = re.match(r"\d+", field(task, label))
    return int(found.group()) if found else default


def outline(task: str) -> dict[str, Any]:
    """An outline of the topic in the task: `Sections:` sections sharing `Words:` words."""
    topic = field(task, TOPIC_FIELD).rstrip(".?!") or "the subject"
    count = max(1, _number(task, SECTIONS_FIELD, 5))
    words = _number(task, WORDS_FIELD, 400 * count)
    sections = []
    for n in range(count):
        heading, purpose = _ASPECTS[n % len(_ASPECTS)]
        if n >= len(_ASPECTS):
            heading = f"{heading}, part {n // len(_ASPECTS) + 1}"
        lowered = topic[:1].lower() + topic[1:]
        points = [f"the {w} of {heading.lower()}" for w in _POINT_WORDS[: 2 + n % 3]]
        sections.append(
            {
                "heading": heading,
                "purpose": purpose.format(t=lowered)[:1].upper() + purpose.format(t=lowered)[1:],
                "key_points": points,
                "words": max(50, words // count),
            }
        )
    return {"title": topic[:1].upper() + topic[1:], "sections": sections}


def _passages(task: str) -> list[tuple[str, str]]:
    """The `[n] passage` lines under the sources heading: (n, passage)."""
    if SOURCES_HEADING not in task:
        return []
    block = task.split(SOURCES_HEADING, 1)[1]
    found = []
    for line in block.splitlines()[1:]:
        if not line.strip():
            break
        cited = re.match(r"^\[(\d+)\]\s+(.+)$", line.strip())
        if cited:
            found.append((cited.group(1), cited.group(2)))
    return found


def _first_sentence(text: str) -> str:
    match = re.match(r"[^.!?]+[.!?]", text.strip())
    return (match.group(0) if match else text.strip()).strip()


def write_section(task: str) -> str:
    """The body of the section the task names: a paragraph per key point, about `Words:`
    words in all; a passage given as a source is quoted and cited `[n]`."""
    heading = field(task, SECTION_FIELD) or "this section"
    words = _number(task, WORDS_FIELD, 300)
    points = [p.strip() for p in field(task, KEY_POINTS_FIELD).split(";") if p.strip()]
    points = points or [heading]
    passages = _passages(task)
    lowered = heading[:1].lower() + heading[1:]
    paragraphs = [f"This section takes up {lowered}, one point at a time."]
    budget = max(1, words // len(points))
    for n, point in enumerate(points):
        sentences: list[str] = []
        while sum(len(s.split()) for s in sentences) < budget and len(sentences) < 12:
            move = _MOVES[(n + len(sentences)) % len(_MOVES)]
            sentences.append(
                move.format(p=point) if sentences else f"On {point}: " + move.format(p="it")
            )
        if passages:
            number, passage = passages[n % len(passages)]
            sentences.append(f"{_first_sentence(passage)} [{number}]")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


_PAIR = re.compile(
    rf"^Section (\d+): .*?\n{re.escape(DRAFT_OPEN)}\n(.*?)\n{re.escape(DRAFT_CLOSE)}$",
    re.MULTILINE | re.DOTALL,
)


def _long_sentences(text: str) -> list[str]:
    """Sentences of eight words or more (a digest's claim lines read without their `- `)."""
    found = re.findall(r"[^.!?\n]+[.!?]", text)
    return [s.strip().removeprefix("- ") for s in found if len(s.split()) >= 8]


def digest(task: str) -> dict[str, Any]:
    """A section's digest: its long sentences, as they stand, each about its first words."""
    sections = _PAIR.findall(task)
    text = sections[0][1] if sections else ""
    claims = [
        {"text": s[:160], "about": " ".join(s.split()[:4])} for s in _long_sentences(text)[:10]
    ]
    return {"claims": claims}


def findings(task: str) -> dict[str, Any]:
    """The consistency editor's findings on the sections in the task: a sentence of a later
    section that repeats one of an earlier section is a repetition, quoted where it repeats."""
    sections = [(int(n), text) for n, text in _PAIR.findall(task)]
    found = []
    for at, (index, text) in enumerate(sections):
        earlier = {s for _, other in sections[:at] for s in _long_sentences(other)}
        for sentence in _long_sentences(text):
            if sentence in earlier:
                first = next(n for n, other in sections[:at] if sentence in other)
                found.append(
                    {
                        "kind": "repetition",
                        "quotes": [{"section": index, "text": sentence}],
                        "comment": f"This repeats a sentence of section {first}; say it once.",
                    }
                )
    return {"findings": found[:10]}
