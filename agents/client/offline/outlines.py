"""What the offline model plans when a reviewer sends feedback on a long document's outline:
the current outline (fenced in the task as Markdown), changed line by line.

A feedback line that asks to add a section on something adds one at the end; one that asks
to drop, remove or cut a section (by its heading or its number) drops it; any other line
becomes a key point of the section whose heading shares most words with it (the last
section when none does). Plain functions of the task: the same feedback always gives the
same outline.
"""

from __future__ import annotations

import re
from typing import Any

from copydesk.agents.client.offline._task import draft, feedback
from copydesk.prompts.markers import FEEDBACK_ITEM

__all__ = ["revised_outline"]

_ADD = re.compile(r"\badd (?:a |one more |another )?section (?:on|about|for|covering) (.+)", re.I)
_DROP = re.compile(r"\b(?:drop|remove|cut|delete) (?:the )?(?:section )?(.+)", re.I)
_WORDS = re.compile(r"^\((\d+) words\)$")


def _sections(markdown: str) -> tuple[str, list[dict[str, Any]]]:
    """(title, sections) of an outline written as `copydesk.agents.document.outline_markdown`
    writes it."""
    title = ""
    sections: list[dict[str, Any]] = []
    for line in (ln.strip() for ln in markdown.splitlines()):
        words = _WORDS.match(line)
        if line.startswith("## "):
            sections.append({"heading": line[3:], "purpose": "", "key_points": [], "words": 0})
        elif line.startswith("# "):
            title = line[2:]
        elif sections and line.startswith("- "):
            sections[-1]["key_points"].append(line[2:])
        elif sections and words:
            sections[-1]["words"] = int(words.group(1))
        elif sections and line:
            sections[-1]["purpose"] = f"{sections[-1]['purpose']} {line}".strip()
    return title, sections


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{4,}", text.lower()))


def revised_outline(task: str) -> dict[str, Any]:
    """The outline fenced in `task`, changed to answer each feedback line."""
    title, sections = _sections(draft(task))
    items = (ln.strip() for ln in feedback(task).splitlines())
    lines = [ln.removeprefix(FEEDBACK_ITEM).strip() for ln in items if ln.startswith(FEEDBACK_ITEM)]
    for line in (ln.rstrip(".") for ln in lines if ln):
        added, dropped = _ADD.search(line), _DROP.search(line)
        if added:
            subject = added.group(1).strip()
            sections.append(
                {
                    "heading": subject[:1].upper() + subject[1:],
                    "purpose": f"What the document has to say about {subject}.",
                    "key_points": [f"the scope of {subject}", f"the evidence on {subject}"],
                    "words": sections[-1]["words"] if sections else 300,
                }
            )
        elif dropped and len(sections) > 1:
            named = dropped.group(1).strip().lower()
            kept = [
                s
                for n, s in enumerate(sections, 1)
                if named not in (str(n), s["heading"].lower()) and s["heading"].lower() not in named
            ]
            sections = kept or sections
        elif sections:
            shared = [len(_words(line) & _words(s["heading"])) for s in sections]
            # The section sharing most words with the line (the first of equals); else the last.
            best = max(range(len(sections)), key=lambda n: (shared[n], -n if any(shared) else n))
            sections[best]["key_points"].append(line)
    return {"title": title, "sections": sections}
