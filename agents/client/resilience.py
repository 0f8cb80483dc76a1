"""What keeps a failing endpoint from wasting a conversation's time, and what tells the
consumer of a stream that a reply starts over.

A `CircuitBreaker` per (endpoint, model) opens after a run of failures (429s do not count:
they say "slow down", not "broken"), so calls go straight to the next fallback model instead
of spending their retries on it, and lets one call through again after a cool-down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

__all__ = ["RESTART_EVENT", "CircuitBreaker", "StreamWatch", "announce_restart"]

log = logging.getLogger("copydesk.client")

RESTART_EVENT = "copydesk.restart"
"""`kind` of the custom stream event sent when a reply that was streaming starts over."""


@dataclass
class CircuitBreaker:
    """Opens after `threshold` failures in a row; half-opens after `cooldown` seconds.

    Attributes:
        name: What it guards, for log lines.
        threshold: Failures in a row that open it.
        cooldown: Seconds it stays open before letting a call try again.
    """

    name: str
    threshold: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failures: int = field(default=0, init=False)
    _open_until: float = field(default=0.0, init=False)

    @property
    def is_open(self) -> bool:
        """True while calls should skip this endpoint."""
        return self.clock() < self._open_until

    def success(self) -> None:
        """A call succeeded: close."""
        self._failures = 0

    def failure(self) -> bool:
        """A call failed; True if that opened the breaker."""
        self._failures += 1
        if self._failures >= self.threshold and not self.is_open:
            self._open_until = self.clock() + self.cooldown
            self._failures = self.threshold - 1  # half-open after the cool-down: one strike
            log.warning(
                "%s failed %d times in a row; skipping it for %.0fs",
                self.name,
                self.threshold,
                self.cooldown,
            )
            return True
        return False


class StreamWatch(BaseCallbackHandler):
    """Counts the tokens a call has streamed to listeners, to tell a cut mid-reply from a
    failure before the first token."""

    run_inline = True

    def __init__(self) -> None:
        self.tokens = 0

    def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:
        """Count one streamed token."""
        self.tokens += 1


def announce_restart(agent: str, attempt: int, reason: str) -> None:
    """Tell the graph's stream consumers that `agent`'s reply starts over.

    LangGraph's "messages" stream has already delivered the broken reply's tokens; the retry
    streams a whole new reply (a new message id). This event, on the "custom" stream mode,
    lets a consumer drop the partial text. Outside a graph there is no consumer: no-op.
    """
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except RuntimeError:
        return
    writer({"kind": RESTART_EVENT, "agent": agent, "attempt": attempt, "reason": reason})
