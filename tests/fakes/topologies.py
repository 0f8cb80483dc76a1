"""A fake-server responder that plays every role of every topology, and tells who spoke.

Each request is attributed to an agent by its system prompt, so a test reads the server's
request log as the conversation's speaker order. Typed replies follow the schema named in the
request: verdicts and rulings revise on an agent's first call on a topic and approve after;
a speaker choice names the participant after the last speaker (or a scripted bad name first).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes._replies import Reply, last_user_text, messages_text

__all__ = ["SPEAKERS", "TopologyResponder", "speaker_of", "speakers"]

SPEAKERS: dict[str, str] = {
    "You are the writer": "writer",
    "You are the editor on": "editor",
    "You are the advocate": "advocate",
    "You are the skeptic": "skeptic",
    "You are the judge": "judge",
    "You are the moderator": "moderator",
    "You plan pieces": "outliner",
    "You are the proofreader": "proofreader",
    "responsible for structure": "structure_editor",
    "responsible for style": "style_editor",
    "responsible for facts": "fact_checker",
}
"""A phrase of each prompt's system message -> the agent it belongs to."""


def speaker_of(body: dict[str, Any] | None) -> str:
    """The agent that sent a chat request, from its system message."""
    messages = (body or {}).get("messages") or []
    system = str(messages[0].get("content", "")) if messages else ""
    return next((name for phrase, name in SPEAKERS.items() if phrase in system), "?")


def speakers(requests: Sequence[Any]) -> list[str]:
    """Speaker order of recorded requests."""
    return [speaker_of(r.body) for r in requests]


def _schema_name(body: dict[str, Any]) -> str:
    if "response_format" in body:
        return str(body["response_format"]["json_schema"]["name"])
    if body.get("tools"):
        return str(body["tools"][0]["function"]["name"])
    asked = re.search(r"one JSON object \((\w+)\)", last_user_text(body))  # json_prompt mode
    return asked.group(1) if asked else ""


def _field(text: str, label: str) -> str:
    match = re.search(rf"^{label}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


@dataclass
class TopologyResponder:
    """Answers drafts, arguments, verdicts, rulings and speaker choices.

    Attributes:
        approve_after: An agent's typed calls before it approves (0: approve at once).
        bad_choices: How many speaker choices name a participant that does not exist.
        always_choose: Name this participant at every (good) choice.
    """

    approve_after: int = 1
    bad_choices: int = 0
    always_choose: str = ""
    _calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict[str, Any]) -> Reply:
        agent = speaker_of(body)
        schema = _schema_name(body)
        key = f"{agent}|{_field(last_user_text(body), 'Topic')}"  # counted per agent and topic
        with self._lock:
            self._calls[key] += 1
            n = self._calls[key]
            bad = schema == "SpeakerChoice" and self.bad_choices > 0
            if bad:
                self.bad_choices -= 1
        if not schema:
            return Reply(
                content=f"{agent} turn {n}: text on {_field(last_user_text(body), 'Topic')}."
            )
        decision = "revise" if n <= self.approve_after else "approve"
        if schema == "Verdict":
            issues = [{"severity": "major", "quote": "", "comment": f"{agent} asks for more."}]
            value: dict[str, Any] = {
                "decision": decision,
                "issues": issues if decision == "revise" else [],
                "summary": f"{agent}: {decision}",
            }
        elif schema == "Ruling":
            changes = ["Add an example."] if decision == "revise" else []
            value = {"decision": decision, "changes": changes, "summary": f"judge: {decision}"}
        elif schema == "SpeakerChoice":
            value = {"next_speaker": self._choice(body, bad), "reason": "fake"}
        else:
            raise AssertionError(f"unexpected schema {schema!r}")
        text = json.dumps(value)
        if "tools" in body:
            return Reply(tool_calls=[{"name": schema, "arguments": text}])
        return Reply(content=text)

    def _choice(self, body: dict[str, Any], bad: bool) -> str:
        if bad:
            return "ghost_writer"
        if self.always_choose:
            return self.always_choose
        task = messages_text(body)  # the task, even after a "not a participant" follow-up
        names = [n.strip() for n in _field(task, "Participants").split(",")]
        last = _field(task, "Last speaker")
        return names[(names.index(last) + 1) % len(names)] if last in names else names[0]


@dataclass
class JudgingResponder(TopologyResponder):
    """A `TopologyResponder` that also answers the rubric judge: each criterion in the task
    (`Criterion NAME: ...`) scores 1 + the draft's word count modulo 5, resting on the
    draft's first four words."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        if _schema_name(body) != "RubricScores":
            return super().__call__(body)
        task = last_user_text(body)
        found = re.search(r"<<<\n(.*?)\n>>>", task, re.DOTALL)
        draft = found.group(1) if found else ""
        names = re.findall(r"^Criterion ([^:\n]+):", task, re.MULTILINE)
        score = 1 + len(draft.split()) % 5
        quote = " ".join(draft.split()[:4])
        value = {"scores": {n: {"score": score, "quote": quote} for n in names}}
        return Reply(content=json.dumps(value))
