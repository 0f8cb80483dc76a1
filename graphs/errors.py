"""Errors a user causes when naming threads: each ends a command in one line, exit code 2.

Kept apart from `copydesk.graphs.manager` so the CLI can name them without loading LangGraph.
"""

from __future__ import annotations

from copydesk.agents.errors import CopydeskError

__all__ = ["EndingError", "InputError", "UnknownThreadError"]


class InputError(CopydeskError):
    """Bad input to a run: empty topic, bad thread id, thread already exists."""

    exit_code = 2


class UnknownThreadError(CopydeskError):
    """No checkpoint exists for the thread."""

    exit_code = 2

    @classmethod
    def of(cls, thread_id: str) -> UnknownThreadError:
        """The error for `thread_id`, with the command that lists the known ones."""
        from copydesk.graphs.transcript import shown_id  # the transcript module imports this one

        return cls(f"unknown thread {shown_id(thread_id)}; `copydesk threads` lists the known ones")


class EndingError(InputError):
    """An `--until` expression or a `--timeout` that cannot be read."""
