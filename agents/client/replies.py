"""What a call returns: a reply, or a typed reply, with the tokens it cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from langchain_core.messages import AIMessage
from pydantic import BaseModel

from copydesk.agents.state import UsageTotals

__all__ = ["STRUCTURED_TAG", "Reply", "Structured"]

T = TypeVar("T", bound=BaseModel)

STRUCTURED_TAG = "copydesk:structured"
"""Tag on calls whose tokens are JSON for a typed reply (a UI may hide them)."""


@dataclass(frozen=True)
class Reply:
    """A model's reply and the tokens it cost."""

    message: AIMessage
    usage: UsageTotals

    @property
    def text(self) -> str:
        """The reply's text."""
        return self.message.text


@dataclass(frozen=True)
class Structured(Generic[T]):
    """A typed reply, and the tokens it cost including any repair attempts."""

    value: T
    message: AIMessage
    usage: UsageTotals
