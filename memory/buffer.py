"""The window of recent messages an agent sees, kept within a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, trim_messages

from memory.tokens import TokenCounter

__all__ = ["DEFAULT_WINDOW_TOKENS", "WindowPolicy"]

DEFAULT_WINDOW_TOKENS = 6000


@dataclass(frozen=True)
class WindowPolicy:
    """How much of a thread's history an agent sees.

    Attributes:
        max_tokens: Budget for the recent-history part of the prompt. The system prompt and
            the task message (which carries the current draft and the latest verdict) are
            outside this budget so they are never cut.
        model: Model whose tokenizer counts the budget.
    """

    max_tokens: int = DEFAULT_WINDOW_TOKENS
    model: str = "gpt-4o-mini"

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"window budget must be positive, got {self.max_tokens}")

    @property
    def counter(self) -> TokenCounter:
        """The token counter for this policy's model."""
        return TokenCounter(self.model)

    def recent(self, history: Sequence[BaseMessage]) -> list[BaseMessage]:
        """The newest messages of `history` that fit in the budget, oldest first.

        Whole messages only: a message is never cut in the middle, and the window may be
        empty when even the newest message is over budget.
        """
        if not history:
            return []
        return trim_messages(
            list(history),
            max_tokens=self.max_tokens,
            token_counter=self.counter,
            strategy="last",
            allow_partial=False,
        )
