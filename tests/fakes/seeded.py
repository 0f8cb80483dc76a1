"""A scripted model for long documents with planted inconsistencies: ten contradictions and
terminology drifts, each between two sections that are never neighbours, so only a pass that
compares distant sections (map-reduce) can see them.

It plays every role of the `document` topology on the fake server: the outline (N sections),
each section's text (about `words` words of filler that no check reads, plus the planted
sentences), the section editor (revise once, then approve), the digester (the sentences with
a digit or a watched term: the claims), and the consistency editor, which reports a plant
when both its sentences are in front of it. A writer asked to revise replaces each planted
sentence whose plant its feedback names with the fixed one, and changes nothing else. A
finding quotes the sentence to change, and names the section it disagrees with.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.fakes._replies import Reply, last_user_text, messages_text

__all__ = ["CRANES", "HEADINGS", "PLANTS", "TIDES", "Plant", "SeededResponder", "citing_writer"]

HEADINGS = (
    "Origins", "Cranes", "Channels", "Founders", "Locks", "Shipping", "Museum", "Quays",
    "Trade", "Terminals", "Dredging", "Futures",
)  # fmt: skip


@dataclass(frozen=True)
class Plant:
    """One planted inconsistency: `right` in one section, `wrong` in another, and the
    sentence that makes the wrong one agree."""

    key: str
    kind: str
    right: tuple[int, str]
    wrong: tuple[int, str]
    fixed: str


PLANTS = (
    Plant("museum-year", "contradiction", (1, "The Harbour Museum opened in 1901."),
          (7, "The Harbour Museum opened in 1910."), "The Harbour Museum opened in 1901."),
    Plant("crane-count", "contradiction", (2, "The port runs 14 container cranes."),
          (9, "The port runs 41 container cranes."), "The port runs 14 container cranes."),
    Plant("channel-depth", "contradiction", (3, "The main channel is 16 metres deep."),
          (11, "The main channel is 12 metres deep."), "The main channel is 16 metres deep."),
    Plant("founder", "contradiction", (4, "The dock company was founded by Ada Brennan."),
          (10, "The dock company was founded by Ida Brennan."),
          "The dock company was founded by Ada Brennan."),
    Plant("lock-date", "contradiction", (5, "The new lock opened on 3 March 2019."),
          (12, "The new lock opened on 3 May 2019."), "The new lock opened on 3 March 2019."),
    Plant("ship-calls", "contradiction", (6, "About 2,400 ships call at the port each year."),
          (2, "About 4,200 ships call at the port each year."),
          "About 2,400 ships call at the port each year."),
    Plant("harbour-master", "terminology", (1, "The harbour master sets the berth plan."),
          (8, "Every morning the port captain walks the quay."),
          "Every morning the harbour master walks the quay."),
    Plant("container-terminal", "terminology", (3, "Trucks queue at the container terminal gate."),
          (10, "The container-terminal lights stay on all night."),
          "The container terminal lights stay on all night."),
    Plant("lock-keeper", "terminology", (5, "The lock keeper logs every vessel."),
          (11, "A lock-keeper can hold a ship for an hour."),
          "A lock keeper can hold a ship for an hour."),
    Plant("sunday", "contradiction", (4, "The port is closed to traffic on Sundays."),
          (12, "The port is open to traffic every day of the week."),
          "The port is closed to traffic on Sundays."),
)  # fmt: skip
WATCHED = ("harbour master", "port captain", "container terminal", "container-terminal",
           "lock keeper", "lock-keeper", "traffic", "founded")  # fmt: skip
_NOUNS = ("routine", "crews", "weather", "ledger", "schedule", "rhythm", "tools", "shift")
_ADJECTIVES = ("steady", "careful", "slow", "practical", "quiet", "patient", "old", "busy")


def _field(text: str, label: str) -> str:
    match = re.search(rf"^{label}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def _schema(body: dict[str, Any]) -> str:
    if "response_format" in body:
        return str(body["response_format"]["json_schema"]["name"])
    return str(body["tools"][0]["function"]["name"]) if body.get("tools") else ""


def filler(heading: str, words: int) -> list[str]:
    """Sentences about `heading`, about `words` words, with no digit and no watched term."""
    h = heading.lower()
    sentences: list[str] = []
    n = 0
    while sum(len(s.split()) for s in sentences) < words:
        noun, adjective = _NOUNS[n % len(_NOUNS)], _ADJECTIVES[(n // len(_NOUNS)) % 8]
        sentences.append(f"Along the {h} side of the port the {noun} feels {adjective} today.")
        n += 1
    return sentences


@dataclass
class SeededResponder:
    """Answers the document topology with the planted inconsistencies (module docstring).

    Attributes:
        words: Words of filler per section.
        reviews: Section reviews that ask for a revision before approving.
    """

    words: int = 480
    reviews: int = 1
    _calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def first_draft(self, index: int) -> str:
        """Section `index`'s first draft: its filler with its planted sentences spread in."""
        sentences = filler(HEADINGS[index - 1], self.words)
        plants = [p.right[1] for p in PLANTS if p.right[0] == index]
        plants += [p.wrong[1] for p in PLANTS if p.wrong[0] == index]
        for n, sentence in enumerate(plants):
            sentences.insert((n + 1) * len(sentences) // (len(plants) + 1), sentence)
        paragraphs = [" ".join(sentences[i : i + 8]) for i in range(0, len(sentences), 8)]
        return "\n\n".join(paragraphs)

    def __call__(self, body: dict[str, Any]) -> Reply:
        task = last_user_text(body)
        schema = _schema(body)
        heading = _field(task, "Section")
        with self._lock:
            self._calls[f"{schema}|{heading}"] += 1
            n = self._calls[f"{schema}|{heading}"]
        if not schema:
            return Reply(content=self._write(task, heading))
        value: Any
        if schema == "Outline":
            count = int(_field(task, "Sections") or len(HEADINGS))
            value = {
                "title": "The port, section by section",
                "sections": [
                    {"heading": h, "purpose": f"Covers {h.lower()}.",
                     "key_points": [h.lower()], "words": self.words}
                    for h in HEADINGS[:count]
                ],
            }  # fmt: skip
        elif schema == "Verdict":
            revise = n <= self.reviews
            value = {
                "decision": "revise" if revise else "approve",
                "issues": [{"severity": "minor", "quote": "", "comment": "Tighten it."}]
                if revise
                else [],
                "summary": "revise" if revise else "approve",
            }
        elif schema == "Digest":
            fenced = re.search(r"<<<\n(.*?)\n>>>", task, re.DOTALL)
            found = re.findall(r"[^.!?\n]+[.!?]", fenced.group(1) if fenced else "")
            claims = [s.strip() for s in found if re.search(r"\d", s) or _watched(s)]
            value = {"claims": [{"text": c, "about": c.split()[1]} for c in claims[:10]]}
        elif schema == "Findings":
            value = {"findings": self._findings(messages_text(body))}
        else:
            raise AssertionError(f"unexpected schema {schema!r}")
        text = json.dumps(value)
        if "tools" in body:
            return Reply(tool_calls=[{"name": schema, "arguments": text}])
        return Reply(content=text)

    def _write(self, task: str, heading: str) -> str:
        fenced = re.search(r"<<<\n(.*?)\n>>>", task, re.DOTALL)
        if fenced is None or heading not in HEADINGS:
            return self.first_draft(HEADINGS.index(heading) + 1 if heading in HEADINGS else 1)
        text = fenced.group(1)
        feedback = task.split("changes:", 1)[-1]
        for plant in PLANTS:
            if plant.key in feedback:
                text = text.replace(plant.wrong[1], plant.fixed)
        return text

    def _findings(self, shown: str) -> list[dict[str, Any]]:
        """Each plant whose two sentences are both in `shown`, quoting the one to change."""
        return [
            {
                "kind": p.kind,
                "quotes": [{"section": p.wrong[0], "text": p.wrong[1]}],
                "comment": f"{p.key}: section {p.wrong[0]} disagrees with section "
                f"{p.right[0]}; make section {p.wrong[0]} say what section {p.right[0]} says",
            }
            for p in PLANTS
            if p.right[1] in shown and p.wrong[1] in shown
        ][:10]


def _watched(sentence: str) -> bool:
    return any(term in sentence.lower() for term in WATCHED)


CRANES = (
    "Harbour cranes lift containers from ships at night.\n\nCrane drivers work eight-hour shifts."
)
TIDES = "Tides decide when the largest ships can enter the harbour."


def citing_writer(heading: str, n: int, task: str) -> str | None:
    """A `DocumentResponder` script: the Harbours section's first draft cites a source that
    was not given ([7]) and a sentence its source ([2], `TIDES`) does not support; its second
    cites both sources for what they say. Other sections: the default text."""
    if heading != "Harbours":
        return None
    if n == 1:
        return (
            "Harbour cranes lift containers from ships at night [1]. The moon is made of "
            "green cheese [2]. Pilots always bring every vessel in safely [7]."
        )
    return (
        "Harbour cranes lift containers from ships at night [1]. Tides decide when the "
        "largest ships can enter the harbour [2]."
    )
