"""The one error type of the prompts package."""

from __future__ import annotations

__all__ = ["PromptError"]


class PromptError(ValueError):
    """A prompt that cannot be found, loaded or rendered; the message names it and the fix."""
