"""What the fake OpenAI server says: the ``Reply`` type and the default responder.

A responder is any callable taking the parsed JSON body of a chat-completion
request and returning a :class:`Reply`. The :class:`DefaultResponder` answers
structured-output requests with a schema-valid JSON document, forced tool
calls with schema-valid arguments, and everything else with a short text that
quotes the last user message.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes._schema import example_for_schema

__all__ = [
    "DefaultResponder",
    "Reply",
    "Responder",
    "call_arguments",
    "cut_at",
    "estimate_tokens",
    "last_user_text",
    "messages_text",
    "usage_of",
]


@dataclass
class Reply:
    """The assistant message a responder wants sent back.

    Attributes:
        content: Message text, or ``None`` for a pure tool-call answer.
        tool_calls: Calls as ``{"name": str, "arguments": str}`` dicts (an optional
            ``"id"`` is kept; non-string arguments are JSON-encoded).
        prompt_tokens: Reported prompt tokens; estimated from the request when ``None``.
        completion_tokens: Reported completion tokens; estimated from the reply when ``None``.
        finish_reason: Sent instead of ``stop`` / ``tool_calls`` (e.g. ``length``).
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    def text(self) -> str:
        """Return the content plus every tool call's name and arguments."""
        parts = [self.content or ""]
        for call in self.tool_calls or []:
            parts.append(str(call.get("name", "")))
            parts.append(call_arguments(call))
        return "".join(parts)


Responder = Callable[[dict[str, Any]], Reply]


def call_arguments(call: Mapping[str, Any]) -> str:
    """Return a tool call's arguments as the JSON string OpenAI sends."""
    arguments = call.get("arguments", "{}")
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def estimate_tokens(text: str) -> int:
    """Estimate tokens the cheap way: one per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def cut_at(reply: Reply, cap: int) -> Reply:
    """`reply` cut at `cap` tokens as OpenAI cuts it: the text or the tool call's arguments
    end there, the finish reason is `length` and the completion counts `cap` tokens."""
    if estimate_tokens(reply.text()) <= cap:
        return reply
    calls = reply.tool_calls or []
    if calls:
        cut = {**calls[0], "arguments": call_arguments(calls[0])[: cap * 4]}
        return Reply(None, [cut], reply.prompt_tokens, cap, "length")
    return Reply((reply.content or "")[: cap * 4], None, reply.prompt_tokens, cap, "length")


def _content_text(content: Any) -> str:
    """Flatten message content (a string or a list of typed parts) to text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def messages_text(body: Mapping[str, Any]) -> str:
    """Concatenate the text of every request message, tool-call arguments included."""
    parts: list[str] = []
    for message in body.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        parts.append(_content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                parts.append(str(function.get("name", "")) + str(function.get("arguments", "")))
    return "".join(parts)


def last_user_text(body: Mapping[str, Any]) -> str:
    """Return the text of the last ``user`` message, or ``""`` if there is none."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def usage_of(body: Mapping[str, Any], reply: Reply) -> dict[str, int]:
    """Build the ``usage`` object, estimating any counts the reply leaves out.

    Args:
        body: The request body.
        reply: The reply being sent.

    Returns:
        ``{"prompt_tokens", "completion_tokens", "total_tokens"}``.
    """
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = estimate_tokens(messages_text(body))
    completion = reply.completion_tokens
    if completion is None:
        completion = estimate_tokens(reply.text())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class DefaultResponder:
    """The server's built-in responder; counts the chat requests it answers."""

    def __init__(self) -> None:
        """Start counting at zero."""
        self._lock = threading.Lock()
        self._count = 0

    def reset(self) -> None:
        """Restart the reply counter."""
        with self._lock:
            self._count = 0

    def __call__(self, body: dict[str, Any]) -> Reply:
        """Answer one chat-completion request.

        Args:
            body: The parsed request JSON.

        Returns:
            A schema-valid JSON reply for ``response_format`` ``json_schema``; a
            tool call when ``tool_choice`` names a function, is ``"required"``,
            or the request offers exactly one tool (unless ``tool_choice`` is
            ``"none"`` or the last message is already a tool result); otherwise
            ``"Fake reply {n} to: {first 60 chars of the last user message}"``.
        """
        with self._lock:
            self._count += 1
            number = self._count
        response_format = body.get("response_format")
        if isinstance(response_format, Mapping):
            if response_format.get("type") == "json_schema":
                spec = response_format.get("json_schema")
                schema = spec.get("schema") if isinstance(spec, Mapping) else None
                return Reply(content=json.dumps(example_for_schema(schema or {})))
            if response_format.get("type") == "json_object":
                return Reply(content=json.dumps({"reply": f"Fake reply {number}"}))
        tool = _chosen_tool(body)
        if tool is not None:
            arguments = example_for_schema(tool.get("parameters") or {})
            call = {"name": str(tool.get("name", "")), "arguments": json.dumps(arguments)}
            return Reply(tool_calls=[call])
        return Reply(content=f"Fake reply {number} to: {last_user_text(body)[:60]}")


def _chosen_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Return the function definition the default responder should call, if any."""
    functions: list[Mapping[str, Any]] = [
        tool["function"]
        for tool in body.get("tools") or []
        if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping)
    ]
    if not functions:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        named = choice.get("function")
        name = named.get("name") if isinstance(named, Mapping) else choice.get("name")
        return next((f for f in functions if f.get("name") == name), None)
    if choice == "required":
        return functions[0]
    if choice == "none" or len(functions) != 1:
        return None
    messages = body.get("messages") or []
    last = messages[-1] if messages else None
    answered = isinstance(last, Mapping) and last.get("role") == "tool"
    return None if answered else functions[0]
