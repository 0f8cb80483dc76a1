"""When a reply is whole, and when it was cut.

A stream is a reply only when it ends as one: a chunk with a finish reason, then
`data: [DONE]`. A body that ends without either is a cut stream (`StreamCut`), retried like a
dropped connection and never handed on as a reply. A tool call whose arguments are not
complete JSON was cut at the output cap whatever finish reason the server gave (llama.cpp
says `tool_calls` even then, and langchain would close the JSON for it): its finish reason is
set to `length`, so the caller asks again with room to finish; arguments that stop far below
the cap were ended for another reason (llama.cpp ends a running call when another request
interrupts it) and are a cut stream; complete arguments are a whole call, whatever finish
reason came with them. `Reading` judges a stream chunk by chunk, `marked_if_cut` a whole
reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import openai

__all__ = ["ENDED_EARLY", "Reading", "StreamCut", "cap_of", "marked_if_cut"]

ENDED_EARLY = "a tool call's arguments, ended far below the output cap"
"""What a tool call cut far below the output cap lacked (its `StreamCut.missing`)."""


class StreamCut(openai.APIConnectionError):
    """The server ended a streamed reply before it was complete: no chunk carried a finish
    reason, or the `data: [DONE]` end marker never came. llama.cpp does this to a running
    stream when a second request preempts it. A cut reply is never a reply: it is retried
    like a dropped connection."""

    def __init__(
        self, request: Any, *, finished: bool, done: bool, missing: str | None = None
    ) -> None:
        self.missing = missing or " and ".join(
            what
            for what, seen in (("no finish reason", finished), ("no [DONE] marker", done))
            if not seen
        )
        """What the stream lacked, e.g. `no finish reason and no [DONE] marker`."""
        super().__init__(message=f"the stream ended early ({self.missing})", request=request)


class Reading:
    """What a stream has said so far: its chunks' finish reasons, tool-call arguments and end
    marker."""

    def __init__(self, request: Any, cap: int | None = None) -> None:
        self.request = request
        self.cap = cap
        self.done = self.finished = self.said = self.ended_early = False
        self.arguments: dict[int, str] = {}  # each tool call's arguments so far
        self.pieces = 0  # chunks that carried tool-call arguments (a token each on llama.cpp)

    def chunk(self, line: str) -> dict[str, Any] | None:
        """The chunk of one `data:` line; None for anything else."""
        if self.done or not line.startswith("data:"):
            return None  # comments, blank lines; after [DONE], the body is read to its end
            # so the connection goes back to the pool instead of being closed
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return None
        chunk: dict[str, Any] = json.loads(data)
        if isinstance(chunk, dict) and chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise openai.APIError(str(message or "error in stream"), self.request, body=chunk)
        self.pieces += _gather_arguments(chunk, self.arguments)
        if _finishes(chunk):
            self.finished = True
            if any(not _complete_json(text) for text in self.arguments.values()):
                if self._far_below_cap():
                    self.ended_early = True
                else:
                    _mark_length(chunk)
            elif self.arguments:
                _mark_complete(chunk)
        self.said = True
        return chunk

    def _far_below_cap(self) -> bool:
        """True when the incomplete tool call is too short to have reached the output cap."""
        written = max(self.pieces, sum(len(text) for text in self.arguments.values()) // 4)
        return _far_below(self.cap, written)

    def check_complete(self) -> None:
        """Raise `StreamCut` unless the stream ended as a reply does (nothing then `[DONE]`
        is an empty reply, which the client handles)."""
        if self.ended_early:
            raise StreamCut(
                self.request,
                finished=True,
                done=self.done,
                missing=ENDED_EARLY,
            )
        if not self.done or (self.said and not self.finished):
            raise StreamCut(self.request, finished=self.finished, done=self.done)


def cap_of(payload: Mapping[str, Any]) -> int | None:
    """The output cap a request sent, if any: in `extra_body` (where the client puts
    `max_tokens` for servers other than OpenAI's, `send` merges it into the body) or at the
    top (`max_completion_tokens` for OpenAI)."""
    extra = payload.get("extra_body") or {}
    for cap in (
        extra.get("max_tokens"),
        extra.get("max_completion_tokens"),
        payload.get("max_tokens"),
        payload.get("max_completion_tokens"),
    ):
        if isinstance(cap, int) and cap > 0:
            return cap
    return None


def marked_if_cut(reply: Any, cap: int | None, request: Any) -> Any:
    """A whole reply, its finish reason `length` where a tool call's arguments are cut at
    the cap; `StreamCut` where they stopped far below it."""
    usage = reply.get("usage") if isinstance(reply, dict) else None
    for choice in reply.get("choices") or () if isinstance(reply, dict) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        calls = (message or {}).get("tool_calls") or ()
        texts = [(c.get("function") or {}).get("arguments") for c in calls if isinstance(c, dict)]
        cut = [t for t in texts if isinstance(t, str) and not _complete_json(t)]
        if not cut:
            if texts and choice.get("finish_reason") == "length":
                choice["finish_reason"] = "tool_calls"  # whole arguments: a whole call
            continue
        reported = (usage or {}).get("completion_tokens") if isinstance(usage, dict) else None
        written = reported if isinstance(reported, int) else sum(map(len, cut)) // 4
        if _far_below(cap, written):
            raise StreamCut(request, finished=True, done=True, missing=ENDED_EARLY)
        choice["finish_reason"] = "length"
    return reply


def _gather_arguments(chunk: Any, arguments: dict[int, str]) -> int:
    """Add the tool-call argument fragments of a stream chunk to `arguments` (by index);
    return how many there were."""
    found = 0
    for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        for call in (delta or {}).get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            piece = (function or {}).get("arguments")
            if isinstance(piece, str):
                index = call.get("index", 0)
                arguments[index] = arguments.get(index, "") + piece
                found += 1
    return found


def _complete_json(text: str) -> bool:
    """True when `text` is one whole JSON value. Raw control characters inside strings are
    allowed (`strict=False`, as langchain parses tool-call arguments): a grammar-constrained
    server (llama.cpp) writes newlines into string values unescaped."""
    try:
        json.loads(text, strict=False)
    except ValueError:
        return False
    return True


def _far_below(cap: int | None, written: int) -> bool:
    """True when `written` tokens of an incomplete tool call are too few to have reached
    the output `cap`: the server ended it for another reason (llama.cpp ends a running call
    with its usual finish reason when another request interrupts it)."""
    return bool(cap) and written < (cap or 0) // 2


def _mark_length(chunk: dict[str, Any]) -> None:
    """Say `length` as the finish reason of every choice of `chunk` that has one."""
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("finish_reason"):
            choice["finish_reason"] = "length"


def _mark_complete(chunk: dict[str, Any]) -> None:
    """Say `tool_calls` where a chunk says `length` although every tool call's arguments are
    complete JSON: the call is whole (llama.cpp was seen to say `length` for such calls, and a
    typed reply taken as cut would be thrown away)."""
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("finish_reason") == "length":
            choice["finish_reason"] = "tool_calls"


def _finishes(chunk: Any) -> bool:
    """True when a stream chunk carries a finish reason (the reply is complete)."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return any(isinstance(c, dict) and c.get("finish_reason") for c in choices or ())
