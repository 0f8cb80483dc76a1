"""Reading a task message by the markers the prompt files write (`copydesk.prompts.markers`):
its fields (topic, persona, participants, last speaker), its fenced draft and its feedback."""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage

from copydesk.prompts.markers import DRAFT_CLOSE, DRAFT_OPEN, FEEDBACK_HEADING

__all__ = ["draft", "feedback", "field", "task"]

_DRAFT = re.compile(rf"{re.escape(DRAFT_OPEN)}\n(.*?)\n{re.escape(DRAFT_CLOSE)}", re.DOTALL)


def task(messages: list[BaseMessage]) -> str:
    """The task in front of the model: the last human message (else the last message)."""
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    return messages[-1].text if messages else ""


def field(text: str, label: str) -> str:
    """The value on the `label: value` line of `text`, or ""."""
    match = re.search(rf"^{label}:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def draft(text: str) -> str:
    """The draft between the fences in `text`, or ""."""
    match = _DRAFT.search(text)
    return match.group(1).strip() if match else ""


def feedback(text: str) -> str:
    """What follows the feedback heading in `text`; all of `text` when it has none."""
    return text.split(FEEDBACK_HEADING, 1)[-1] if FEEDBACK_HEADING in text else text
