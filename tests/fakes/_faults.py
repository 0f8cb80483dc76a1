"""Faults the fake OpenAI server can inject, and the queue that hands them out.

A :class:`Fault` describes one way an answer goes wrong (an HTTP error status,
extra delay, a cut connection, a malformed body, ...). Faults queued on a
:class:`FaultQueue` are consumed one per incoming request, in order; a server
can also hold one persistent fault that applies to every request.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "FaultKind", "FaultQueue", "error_body"]


class FaultKind(enum.Enum):
    """The ways a request can be made to fail."""

    STATUS = "status"
    DELAY = "delay"
    CUT_STREAM = "cut_stream"
    END_STREAM = "end_stream"
    DROP = "drop"
    MALFORMED = "malformed"
    BAD_CONTENT = "bad_content"
    HANG = "hang"


@dataclass(frozen=True)
class Fault:
    """One injected failure; build instances with the class-method constructors.

    Attributes:
        kind: Which failure this is.
        code: HTTP status for :attr:`FaultKind.STATUS`.
        seconds: Sleep before answering, for ``DELAY`` and ``HANG``.
        retry_after: ``Retry-After`` header value in seconds, for ``STATUS``.
        retry_after_ms: ``retry-after-ms`` header value, for ``STATUS``.
        after_chunks: Events sent before the connection is cut, for ``CUT_STREAM``.
        text: Message content returned by ``BAD_CONTENT``.
        end_after: ``END_STREAM``: events sent before the end (``None``: all of them).
        finish: ``END_STREAM``: keep the ``finish_reason`` on the last choice chunk.
        done: ``END_STREAM``: send the ``data: [DONE]`` marker before the body ends.
    """

    kind: FaultKind
    code: int = 200
    seconds: float = 0.0
    retry_after: float | None = None
    retry_after_ms: int | None = None
    after_chunks: int = 0
    text: str = ""
    end_after: int | None = None
    finish: bool = True
    done: bool = True

    @classmethod
    def status(
        cls,
        code: int,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
    ) -> Fault:
        """Answer with HTTP ``code`` and an OpenAI-style error body.

        Args:
            code: HTTP status code, 400-599.
            retry_after: If given, sent as the ``Retry-After`` header (seconds).
            retry_after_ms: If given, sent as the ``retry-after-ms`` header.

        Returns:
            The fault.

        Raises:
            ValueError: If ``code`` is not an error status.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"status fault needs a 4xx/5xx code, got {code}")
        return cls(
            FaultKind.STATUS, code=code, retry_after=retry_after, retry_after_ms=retry_after_ms
        )

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep ``seconds`` (on top of the server latency), then answer normally."""
        return cls(FaultKind.DELAY, seconds=_non_negative(seconds))

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Sleep ``seconds`` before responding; meant to trip client timeouts."""
        return cls(FaultKind.HANG, seconds=_non_negative(seconds))

    @classmethod
    def cut_stream(cls, after_chunks: int) -> Fault:
        """Cut the connection mid-answer.

        A streaming request gets ``after_chunks`` SSE events and then the socket
        closes with no ``[DONE]``; any other request gets half its body.

        Args:
            after_chunks: How many SSE events to send before closing.

        Returns:
            The fault.
        """
        if after_chunks < 0:
            raise ValueError("after_chunks must be >= 0")
        return cls(FaultKind.CUT_STREAM, after_chunks=after_chunks)

    @classmethod
    def end_stream(
        cls, after_chunks: int | None = None, *, finish: bool = False, done: bool = False
    ) -> Fault:
        """End a stream early but cleanly: the HTTP body is complete, the reply is not.

        A server that drops a request it is generating does this (llama.cpp, when a second
        request preempts the running one, ends the stream with ``[DONE]`` and no finish
        reason). Non-streamed requests are answered normally.

        Args:
            after_chunks: SSE events sent before the end; ``None`` sends every event.
            finish: Keep the ``finish_reason`` of the last choice chunk (when it is sent).
            done: Send ``data: [DONE]`` before ending the body.

        Returns:
            The fault.
        """
        if after_chunks is not None and after_chunks < 0:
            raise ValueError("after_chunks must be >= 0")
        return cls(FaultKind.END_STREAM, end_after=after_chunks, finish=finish, done=done)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending any response."""
        return cls(FaultKind.DROP)

    @classmethod
    def malformed(cls) -> Fault:
        """Answer 200 with a body (or SSE event) that is not valid JSON."""
        return cls(FaultKind.MALFORMED)

    @classmethod
    def bad_content(cls, text: str) -> Fault:
        """Answer a normal completion whose content is ``text``, bypassing the responder."""
        return cls(FaultKind.BAD_CONTENT, text=text)

    @property
    def pause(self) -> float:
        """Extra seconds to wait before answering (0 unless ``DELAY``/``HANG``)."""
        return self.seconds if self.kind in (FaultKind.DELAY, FaultKind.HANG) else 0.0


class FaultQueue:
    """Thread-safe FIFO of one-shot faults."""

    def __init__(self) -> None:
        """Create an empty queue."""
        self._lock = threading.Lock()
        self._items: deque[Fault] = deque()

    def add(self, *faults: Fault) -> None:
        """Append faults; each is used by exactly one future request.

        Args:
            *faults: Faults in the order requests should meet them.
        """
        with self._lock:
            self._items.extend(faults)

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._items.clear()

    def pop(self) -> Fault | None:
        """Remove and return the next fault, or ``None`` if the queue is empty."""
        with self._lock:
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        """Return the number of faults still queued."""
        with self._lock:
            return len(self._items)

    def __repr__(self) -> str:
        """Show the queued fault kinds."""
        with self._lock:
            kinds = ", ".join(fault.kind.value for fault in self._items)
        return f"FaultQueue([{kinds}])"


_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    409: ("conflict_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(code: int, message: str | None = None) -> dict[str, Any]:
    """Build the JSON body OpenAI sends with an error status.

    Args:
        code: HTTP status code.
        message: Human-readable message; a generic one is used when omitted.

    Returns:
        ``{"error": {"message", "type", "param", "code"}}``.
    """
    kind, error_code = _ERROR_KINDS.get(code, ("server_error", None))
    return {
        "error": {
            "message": message or f"Fake server error (HTTP {code})",
            "type": kind,
            "param": None,
            "code": error_code,
        }
    }


def _non_negative(seconds: float) -> float:
    """Validate a duration."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    return float(seconds)
