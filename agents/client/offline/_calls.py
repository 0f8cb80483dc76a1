"""Decoding what a call asks of the offline model beyond its messages: the output cap and
stop sequences, a JSON response format, a bound or forced tool, and tool results to answer."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, ToolCall, ToolMessage
from langchain_core.messages.tool import tool_call

from copydesk.agents.client.offline.roles import KNOWN_FIELDS, typed_answer
from copydesk.memory.tokens import TokenCounter

__all__ = ["after_tools", "bounded", "cap", "json_format", "schema_of", "tool_call_for"]


def cap(kwargs: Mapping[str, Any]) -> int | None:
    """The output cap a call asks for (`max_tokens`, or OpenAI's `max_completion_tokens`)."""
    tokens = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    return int(tokens) if tokens else None


def bounded(
    text: str, stop: Sequence[str] | None, max_tokens: int | None, counter: TokenCounter
) -> tuple[str, str]:
    """`text` ended before its first stop sequence and cut to `max_tokens` tokens (at a word
    boundary), with the finish reason: `stop`, or `length` when the cap cut it."""
    ends = [i for i in (text.find(s) for s in stop or () if s) if i >= 0]
    if ends:
        text = text[: min(ends)]
    if not max_tokens or counter.text(text) <= max_tokens:
        return text, "stop"
    pieces = re.findall(r"\S+\s*|\s+", text)
    low, high = 0, len(pieces)  # the most pieces whose text fits the cap
    while low < high:
        middle = (low + high + 1) // 2
        if counter.text("".join(pieces[:middle])) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return "".join(pieces[:low]).rstrip(), "length"


def json_format(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON response format a call asks for (`json_schema`, or `json_object`), if any."""
    response_format = kwargs.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_schema",
        "json_object",
    ):
        return dict(response_format)
    return None


def schema_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema a typed request asks for (response_format or the forced tool)."""
    response_format = json_format(kwargs)
    if response_format is not None:
        return dict((response_format.get("json_schema") or {}).get("schema") or {})
    for tool in kwargs.get("tools") or []:
        return dict(tool.get("function", {}).get("parameters") or {})
    return {}


def after_tools(messages: list[BaseMessage]) -> str:
    """The answer once tools have run: what each returned, in order."""
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            break
        status = " (error)" if message.status == "error" else ""
        results.append(f"{message.name or 'the tool'}{status}: {message.text.strip()}")
    return "From the tools: " + "; ".join(reversed(results)) + "."


def tool_call_for(
    messages: list[BaseMessage], kwargs: Mapping[str, Any], task: str, draft: str
) -> ToolCall | None:
    """The tool call this turn makes, if any.

    A forced choice (a tool's name, `required`) always calls; `none` never does; otherwise
    a bound tool is called unless the last message is a tool's result (then the model
    answers in text). The tool is the one named in the choice, else one whose name the task
    mentions, else the first. Its arguments: the fields copydesk's roles fill (as in
    `typed_answer`), numbers taken in order from the task, strings from its first quoted
    phrase (else the task itself), anything else the schema's smallest valid value.
    """
    tools = [t for t in kwargs.get("tools") or [] if isinstance(t, Mapping)]
    choice = kwargs.get("tool_choice")
    if not tools or choice == "none" or json_format(kwargs) is not None:
        return None
    named = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
    if not named and choice != "required" and messages and isinstance(messages[-1], ToolMessage):
        return None
    functions = [dict(t.get("function") or {}) for t in tools]
    chosen = next((f for f in functions if f.get("name") == named), None) or next(
        (f for f in functions if f.get("name") and str(f["name"]) in task), functions[0]
    )
    schema = dict(chosen.get("parameters") or {})
    # A tool declaring no fields at all gets the editor's verdict (as `typed_answer`); one
    # declaring an empty set of fields takes no arguments.
    takes_none = "properties" in schema and not schema["properties"]
    args = {} if takes_none else typed_answer(schema, task, draft)
    if isinstance(args, dict):
        args = _from_task(schema, args, task)
    return tool_call(name=str(chosen.get("name", "tool")), args=args, id=f"call_{len(messages)}")


def _from_task(schema: Mapping[str, Any], args: dict[str, Any], task: str) -> dict[str, Any]:
    """`args` with the fields copydesk's roles do not know filled from the task."""
    numbers = [float(n) for n in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", task)]
    quoted = re.findall(r"'([^']+)'|\"([^\"]+)\"", task)
    phrase = next((a or b for a, b in quoted), "") or task.strip()[:200]
    properties = schema.get("properties") or {}
    for name in args:
        if name in KNOWN_FIELDS:
            continue
        kind = (properties.get(name) or {}).get("type")
        if kind in ("integer", "number") and numbers:
            value = numbers.pop(0)
            args[name] = int(value) if kind == "integer" else value
        elif kind == "string" and not (properties.get(name) or {}).get("enum") and phrase:
            args[name] = phrase
    return args
