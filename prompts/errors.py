"""The one error type of the prompts package (its place in the tree: `copydesk.errors`)."""

from __future__ import annotations

from copydesk.errors import CopydeskError

__all__ = ["PromptError"]


class PromptError(CopydeskError, ValueError):
    """A prompt that cannot be found, loaded or rendered; the message names it and the fix."""

    exit_code = 2
