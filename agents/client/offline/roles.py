"""What the offline model writes in each role: the writer's first draft and revision, the
editor's verdict, a debater's argument, the moderator's choice and any other typed reply.

Each is a plain function of the text it is given (topic, draft, feedback, task), so the same
input always gives the same output and different topics or feedback give visibly different
drafts. `copydesk.agents.client.offline.model` picks the role from the task in front of it.
"""

from __future__ import annotations

import re
from typing import Any

from copydesk.agents.client._schema_instance import instance_of
from copydesk.agents.client.offline._task import field
from copydesk.agents.client.offline.documents import digest, findings, outline
from copydesk.agents.client.offline.notes import (
    fix_terminology,
    section_notes,
    terminology_findings,
)
from copydesk.agents.client.offline.outlines import revised_outline
from copydesk.prompts.markers import FEEDBACK_ITEM, LAST_SPEAKER_FIELD, PARTICIPANTS_FIELD

__all__ = [
    "argue",
    "next_speaker",
    "review",
    "rubric_scores",
    "typed_answer",
    "write_first",
    "write_revision",
]

_EXAMPLE, _TAKEAWAY = "For example,", "In short,"
"""How a draft gives its concrete example and its closing takeaway (what the editor asks for)."""

_STOP = frozenset({
    "the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "with", "how", "why", "what",
    "is", "are", "about", "more", "most", "less", "should", "could", "would", "can", "will",
    "must", "do", "does", "it", "its", "their", "our", "your",
})  # fmt: skip
"""Words that never make a topic's focus."""

KNOWN_FIELDS = frozenset({"decision", "issues", "changes", "summary", "next_speaker", "reason"})
"""Fields of copydesk's typed replies that `typed_answer` fills as the roles would."""


def _sentences(text: str) -> list[str]:
    body = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return re.findall(r"[^.!?]+[.!?]", " ".join(body)) or [text.strip()]


def _subject(topic: str) -> tuple[str, str]:
    """(topic as a phrase, its last content word): 'Why cities plant trees' -> ..., 'trees'."""
    phrase = topic.strip().rstrip(".?!") or "the subject"
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", phrase) if w.lower() not in _STOP]
    return phrase, (words[-1].lower() if words else "the details")


def write_first(topic: str) -> str:
    """A first draft on `topic`: title, opening, body; no example and no takeaway yet."""
    phrase, focus = _subject(topic)
    return (
        f"# {phrase[:1].upper()}{phrase[1:]}\n\n"
        f"{phrase[:1].upper()}{phrase[1:]}: the question is easy to ask and harder to answer "
        f"well. This piece sets out what is at stake and why it deserves attention.\n\n"
        f"Most of the difficulty comes down to {focus}: it rewards steady attention and "
        f"punishes shortcuts. People who treat {focus} as a habit rather than a one-off project "
        f"see the benefits compound over time."
    )


def write_revision(topic: str, draft: str, feedback: str) -> str:
    """`draft` revised to answer each feedback line, in order."""
    phrase, focus = _subject(topic)
    text = draft or write_first(topic)
    items = (ln.strip() for ln in feedback.splitlines() if ln.strip().startswith(FEEDBACK_ITEM))
    for line in items:
        lowered = line.lower()
        quoted = re.match(r'^-\s*\[\w+\]\s*"(.+?)":', line)
        if "repeat" in lowered and quoted and quoted.group(1) in text:
            # Said already in another section: the sentence goes, with its citations.
            text = re.sub(re.escape(quoted.group(1)) + r"(\s*\[\d+\])*[ \t]*", "", text)
            text = re.sub(r"[ \t]+\n", "\n", text).rstrip()
        elif (fixed := fix_terminology(text, line)) is not None:
            text = fixed
        elif "example" in lowered and _EXAMPLE not in text:
            text += (
                f"\n\n{_EXAMPLE} a group that reviews its {focus} every week catches problems "
                f"while they are still cheap to fix."
            )
        elif ("takeaway" in lowered or "conclu" in lowered) and _TAKEAWAY not in text:
            claim = re.sub(r"^(why|how|what|whether)\s+", "", phrase, flags=re.IGNORECASE)
            text += (
                f"\n\n{_TAKEAWAY} {claim[:1].lower()}{claim[1:]}, and getting there takes practice."
            )
        elif "example" not in lowered and "takeaway" not in lowered:
            comment = line.split(":", 1)[-1].strip().rstrip(".")
            text += (
                f"\n\nOn the point that {comment[:1].lower()}{comment[1:]}: this is now addressed."
            )
    return text


def review(draft: str) -> dict[str, Any]:
    """A verdict on `draft`, as the JSON object the editor's schema describes."""
    sentences = _sentences(draft)
    issues = []
    if _EXAMPLE not in draft:
        issues.append(
            {
                "severity": "major",
                "quote": sentences[min(1, len(sentences) - 1)].strip(),
                "comment": "Too abstract: add a concrete example.",
            }
        )
    if _TAKEAWAY not in draft:
        issues.append(
            {
                "severity": "major",
                "quote": sentences[-1].strip(),
                "comment": "The ending trails off: close with a clear takeaway.",
            }
        )
    if issues:
        return {
            "decision": "revise",
            "issues": issues,
            "summary": f"A sound start with {len(issues)} major issue(s) to fix.",
        }
    return {
        "decision": "approve",
        "issues": [],
        "summary": "Concrete, well structured and it lands its point.",
    }


def argue(persona: str, draft: str) -> str:
    """A debater's short case for how `draft` should change."""
    issues = review(draft)["issues"]
    if not issues:
        return f"As the {persona}: the draft makes its case; keep it as it stands."
    asks = "; ".join(str(i["comment"]).split(":")[-1].strip().rstrip(".") for i in issues)
    return f"As the {persona}: the draft should change. {asks[:1].upper()}{asks[1:]}."


def next_speaker(task: str) -> str:
    """The participant after the last speaker, in the order the task lists them."""
    names = [n.strip() for n in field(task, PARTICIPANTS_FIELD).split(",") if n.strip()]
    if not names:
        return "writer"
    last = field(task, LAST_SPEAKER_FIELD)
    return names[(names.index(last) + 1) % len(names)] if last in names else names[0]


def typed_answer(schema: dict[str, Any], task: str, draft: str) -> Any:
    """A valid instance of `schema`, with the fields the offline model understands filled in."""
    verdict = review(draft)
    if not schema.get("properties"):
        return verdict  # a request that names no fields gets the editor's verdict
    value = instance_of(schema)
    if not isinstance(value, dict):
        return value
    if set(value) == {"decision", "issues", "summary"}:
        return verdict
    if set(schema["properties"]) == {"decision", "issues", "summary", "notes"}:
        empty = {"terms": [], "spellings": [], "voice": "", "tense": "", "numbers": "", "facts": []}
        approving = verdict["decision"] == "approve"
        return {**verdict, "notes": section_notes(draft) if approving else empty}
    if set(value) == {"title", "sections"}:
        return revised_outline(task) if draft else outline(task)
    if set(value) == {"findings"}:
        return {"findings": [*terminology_findings(task), *findings(task)["findings"]][:5]}
    if set(value) == {"claims"}:
        return digest(task)
    if set(value) == {"scores"}:
        return rubric_scores(task, draft)
    known: dict[str, Any] = {
        "decision": verdict["decision"],
        "changes": [str(i["comment"]) for i in verdict["issues"]],
        "summary": verdict["summary"],
        "next_speaker": next_speaker(task),
        "reason": "offline model: the next participant in turn",
    }
    properties = schema.get("properties") or {}
    for name in value:
        enum = (properties.get(name) or {}).get("enum")
        if name in known and (enum is None or known[name] in enum):
            value[name] = known[name]
    return value


def rubric_scores(task: str, draft: str) -> dict[str, Any]:
    """A rubric judge's scores: each criterion named in the task (`Criterion NAME: ...`) gets
    1 plus a point for a concrete example, a closing takeaway, 80 words or more and a title,
    resting on the draft's first sentence."""
    names = re.findall(r"^Criterion ([^:\n]+):", task, re.MULTILINE)
    points = (_EXAMPLE in draft, _TAKEAWAY in draft, len(draft.split()) >= 80, "# " in draft)
    quote = _sentences(draft)[0].strip()
    return {"scores": {name.strip(): {"score": 1 + sum(points), "quote": quote} for name in names}}
