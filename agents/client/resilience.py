"""What keeps a failing endpoint from wasting a conversation's time, and what tells the
consumer of a stream that a reply starts over.

A `CircuitBreaker` per (endpoint, model) (`breaker.py`) opens on a failure rate, so calls go
straight to the next fallback model instead of spending their retries on it; a
`StreamWatch` tells a cut mid-reply from a failure before the first token.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from copydesk.agents.client.breaker import CircuitBreaker

__all__ = ["RESTART_EVENT", "CircuitBreaker", "StreamWatch", "announce_restart"]

RESTART_EVENT = "copydesk.restart"
"""`kind` of the custom stream event sent when a reply that was streaming starts over."""


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
