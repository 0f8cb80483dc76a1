"""A fake-server responder whose writer revises from a script and whose editor quotes real
passages: threads with redlines to draw, issues to anchor and to follow across drafts."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes._replies import Reply, last_user_text

__all__ = ["DRAFTS", "VERDICTS", "ScriptedReview", "issue"]

DRAFTS = (
    "Trams are quiet. They carry many people.\n\nCities love them.",
    "Trams are quiet and clean. They carry many people.\n\nCities should build more.",
    "Trams are quiet and clean. They carry crowds with ease.\n\nCities should build more.",
)
"""The writer's drafts in order (the last repeats)."""


def issue(quote: str, comment: str, severity: str = "major") -> dict[str, str]:
    """One editor issue."""
    return {"severity": severity, "quote": quote, "comment": comment}


VERDICTS: tuple[dict[str, Any], ...] = (
    {
        "decision": "revise",
        "issues": [
            issue("Trams are quiet.", "Say more than quiet."),
            issue("They carry many people.", "Vague: how many?", "minor"),
        ],
        "summary": "Two things to fix.",
    },
    {
        "decision": "revise",
        "issues": [issue("Cities should build more.", "Which cities? Name one.")],
        "summary": "One thing left.",
    },
)
"""The editor's verdicts in order (the last repeats): the first issue of round 1 is addressed
by draft 2, the second is still there; round 2's issue stands against draft 2."""


@dataclass
class ScriptedReview:
    """Writer calls get the next draft, editor calls the next verdict, counted per topic.

    Attributes:
        drafts: The drafts in order; `{topic}` is replaced by the thread's topic.
        verdicts: The verdicts in order.
    """

    drafts: Sequence[str] = DRAFTS
    verdicts: Sequence[dict[str, Any]] = VERDICTS
    _calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict[str, Any]) -> Reply:
        typed = "response_format" in body or "tools" in body
        match = re.search(r"^Topic:\s*(.+)$", last_user_text(body), re.MULTILINE)
        topic = match.group(1).strip() if match else ""
        key = f"{'editor' if typed else 'writer'}|{topic}"
        with self._lock:
            self._calls[key] += 1
            n = self._calls[key]
        if not typed:
            draft = self.drafts[min(n, len(self.drafts)) - 1]
            return Reply(content=draft.replace("{topic}", topic))
        text = json.dumps(self.verdicts[min(n, len(self.verdicts)) - 1])
        if "tools" in body:
            return Reply(tool_calls=[{"name": "Verdict", "arguments": text}])
        return Reply(content=text)
