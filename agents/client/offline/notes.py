"""What the offline model notes for a long document's style sheet and fact ledger, and the
terminology it finds drifting from the style sheet.

- An approved section's notes: its hyphenated words and `-ise`/`-ize` words are spellings,
  its capitalised names (not starting a sentence) are terms; its voice is active; its tense
  is the one its `is/are` or `was/were` say most; numbers are numerals when it writes any;
  each sentence with a number (a year is a date) or a name is a fact, with the source it
  cites.
- In the consistency pass: a word of a section that is a style-sheet term written another
  way (`email` for `e-mail`: the same letters, other case, hyphens or spaces) is a
  terminology finding quoting its sentence.
- A revision answering that finding writes the term as the style sheet does.

Plain functions of the text in front of it, so the same section always gives the same notes.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from copydesk.prompts.markers import DRAFT_CLOSE, DRAFT_OPEN, STYLE_SHEET_HEADING

__all__ = ["fix_terminology", "section_notes", "terminology_findings"]

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?(?:\s*\[\d+\])*")
_NAME = re.compile(r"(?<=[a-z,] )([A-Z][a-z]+(?: [A-Z][a-z]+)*)")
_NUMBER = re.compile(r"\b\d[\d,.]*%?")
_SPELLING = re.compile(r"\b[a-z]+-[a-z]+\b|\b[a-z]{3,}i[sz](?:e|ed|es|ing|ation)\b")
_RULE = re.compile(r"^- (term|spelling): (.+?) \(section \d+\)$")
_PAIR = re.compile(
    rf"^Section (\d+): .*?\n{re.escape(DRAFT_OPEN)}\n(.*?)\n{re.escape(DRAFT_CLOSE)}$",
    re.MULTILINE | re.DOTALL,
)
_TERMINOLOGY = re.compile(r'write "(.+?)" as the style sheet does, not "(.+?)"', re.IGNORECASE)


def _unique(items: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(items))[:limit]


def _fact(sentence: str) -> dict[str, Any] | None:
    cited = re.search(r"\[(\d+)\]", sentence)
    claim = re.sub(r"\s*\[\d+\]", "", sentence).strip()[:160]
    number, name = _NUMBER.search(claim), _NAME.search(claim)
    if number:
        value = number.group().rstrip(".,")
        kind = "date" if re.fullmatch(r"1\d{3}|20\d{2}", value) else "number"
    elif name:
        value, kind = name.group(1), "name"
    else:
        return None
    return {
        "claim": claim,
        "value": value,
        "kind": kind,
        "source": int(cited.group(1)) if cited else 0,
    }


def section_notes(draft: str) -> dict[str, Any]:
    """The notes an approving verdict carries on `draft` (the `SectionNotes` fields)."""
    sentences = [s.strip() for s in _SENTENCE.findall(draft) if s.strip()]
    facts = [f for f in map(_fact, sentences) if f is not None]
    present = len(re.findall(r"\b(?:is|are)\b", draft))
    past = len(re.findall(r"\b(?:was|were)\b", draft))
    return {
        "terms": _unique(_NAME.findall(draft), 8),
        "spellings": _unique(_SPELLING.findall(draft), 6),
        "voice": "active",
        "tense": "past" if past > present else "present",
        "numbers": "numerals" if _NUMBER.search(draft) else "",
        "facts": facts[:8],
    }


def _key(term: str) -> str:
    return "".join(ch for ch in term.lower() if ch.isalnum())


def _rules(task: str) -> list[str]:
    if STYLE_SHEET_HEADING not in task:
        return []
    block = task.split(STYLE_SHEET_HEADING, 1)[1].strip().splitlines()
    found = []
    for line in block:
        rule = _RULE.match(line.strip())
        if not rule:
            break
        found.append(rule.group(2))
    return found


def terminology_findings(task: str) -> list[dict[str, Any]]:
    """A finding for each word (or two) of the sections in `task` that writes a style-sheet
    term another way, quoting the sentence it is in."""
    found = []
    for term in _rules(task):
        for index, text in ((int(n), t) for n, t in _PAIR.findall(task)):
            words = re.findall(r"[A-Za-z][A-Za-z-]*", text)
            phrases = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for variant in _unique([p for p in phrases if _key(p) == _key(term)], 3):
                if variant.lower() == term.lower():
                    continue
                sentence = next(s.strip() for s in _SENTENCE.findall(text) if variant in s)
                found.append(
                    {
                        "kind": "terminology",
                        "quotes": [{"section": index, "text": sentence[:160]}],
                        "comment": f'Write "{term}" as the style sheet does, not "{variant}".',
                    }
                )
    return found


def fix_terminology(text: str, line: str) -> str | None:
    """`text` with a terminology feedback `line` answered (None: not such a line)."""
    asked = _TERMINOLOGY.search(line)
    if asked is None:
        return None
    return re.sub(rf"\b{re.escape(asked.group(2))}\b", asked.group(1), text)
