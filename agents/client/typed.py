"""How a typed reply is asked for and read back, in each structured mode.

- `json_schema`: a strict `response_format` (OpenAI, vLLM, recent Ollama).
- `function_calling`: one forced tool whose parameters are the schema.
- `json_prompt`: no server feature at all: the schema is appended to the task message and
  the JSON object is read out of the reply's text (a code fence or prose around it is
  tolerated); the caller validates it and asks for a repair as in the other modes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError

from copydesk.agents.client.capabilities import StructuredMode

__all__ = [
    "ask_for_json",
    "bind_typed",
    "cut_at_cap",
    "json_text",
    "problem_of",
    "typed_cap",
    "typed_tool",
    "was_cut",
]

_BOUNDS = frozenset({"maxLength", "maxItems", "minItems"})

TYPED_MIN_CAP = 384
"""The least output cap a typed reply starts with when its prompt sets none: a cut typed
reply is thrown away and asked for again, so a cap chosen for short prose (the real-model
tier's 160) would only buy repairs. A verdict with a few issues takes 150-300 tokens."""


def typed_cap(output_cap: int | None) -> int | None:
    """The output cap of a typed reply under the client's `output_cap` (None: no cap)."""
    return max(output_cap, TYPED_MIN_CAP) if output_cap else None


def typed_tool(schema: type[BaseModel], *, bounded: bool) -> dict[str, Any]:
    """The strict tool (name, description, JSON schema) of `schema`.

    With `bounded`, the schema keeps the `maxLength`/`maxItems` its fields declare, which a
    grammar-constrained server enforces; without, they are left out (OpenAI's strict subset
    refuses length constraints)."""
    tool = convert_to_openai_tool(schema, strict=True)
    return tool if bounded else _without_bounds(tool)


def _without_bounds(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_bounds(v) for k, v in node.items() if k not in _BOUNDS}
    if isinstance(node, list):
        return [_without_bounds(item) for item in node]
    return node


def bind_typed(
    chat: BaseChatModel,
    mode: StructuredMode,
    tool: dict[str, Any],
    params: Mapping[str, Any] | None = None,
    *,
    stream: bool = True,
) -> Runnable[Any, Any]:
    """`chat` bound to answer with the schema of `tool` in `mode`, with the model `params`
    (and without streaming when `stream` is False).

    For `ChatOpenAI` the response format goes in `extra_body`, merged with any the params
    carry (the output cap for servers other than OpenAI's): it is passed on untouched, on the
    SDK and on copydesk's own wire alike, and the JSON text is validated by the caller.
    """
    function = tool["function"]
    options: dict[str, Any] = dict(params or {})
    if not stream:
        options["stream"] = False
    if mode == "function_calling":
        options["tools"] = [tool]
        options["tool_choice"] = {"type": "function", "function": {"name": function["name"]}}
    elif mode == "json_schema":
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": function["name"],
                "description": function.get("description", ""),
                "schema": function["parameters"],
                "strict": True,
            },
        }
        if isinstance(chat, ChatOpenAI):  # passed on untouched, on the SDK and the wire
            options["extra_body"] = {
                **options.get("extra_body", {}),
                "response_format": response_format,
            }
        else:  # the offline model, or another provider's chat model
            options["response_format"] = response_format
    return chat.bind(**options) if options else chat


def ask_for_json(messages: Sequence[BaseMessage], tool: dict[str, Any]) -> list[BaseMessage]:
    """`messages` with the last user turn asking for one JSON object of `tool`'s schema."""
    function = tool["function"]
    schema = json.dumps(function["parameters"], separators=(",", ":"))
    ask = (
        f"\n\nAnswer with only one JSON object ({function['name']}), no prose and no code "
        f"fence, matching this JSON schema:\n{schema}"
    )
    out = list(messages)
    for index in range(len(out) - 1, -1, -1):
        if isinstance(out[index], HumanMessage):
            out[index] = HumanMessage(out[index].text + ask, name=out[index].name)
            return out
    return [*out, HumanMessage(ask.strip())]


def json_text(message: AIMessage) -> str:
    """The JSON text of a typed reply: the forced tool call's arguments, or the object in
    the content (a surrounding code fence or sentence is dropped)."""
    if message.tool_calls:
        return json.dumps(message.tool_calls[0]["args"])
    if message.invalid_tool_calls:
        return _escaped(str(message.invalid_tool_calls[0].get("args") or ""))
    text = message.text.strip()
    start, end = text.find("{"), text.rfind("}")
    if start > 0 or (start >= 0 and end < len(text) - 1):
        text = text[start : end + 1] if end > start else text[start:]
    return _escaped(text)


_CONTROL = re.compile(r"[\x00-\x1f]")


def _escaped(text: str) -> str:
    """`text` with raw control characters inside its strings escaped, when it is whole JSON
    but for them (llama.cpp's grammar lets a model write a newline into a string; pydantic's
    JSON parser refuses it, langchain's tool-call parser does not); else `text` unchanged.
    Text without control characters is returned as it is, unparsed."""
    if _CONTROL.search(text) is None:
        return text
    try:
        return json.dumps(json.loads(text, strict=False))
    except ValueError:
        return text


def was_cut(message: AIMessage) -> bool:
    """True when the reply stopped at the output cap."""
    return message.response_metadata.get("finish_reason") == "length"


def cut_at_cap(cap: int | None) -> str:
    """The problem of a reply that stopped at the output cap, in one phrase."""
    return f"the reply was cut at the output cap ({cap or '?'} tokens) before it was complete"


def problem_of(error: ValidationError, message: AIMessage, cap: int | None) -> str:
    """What is wrong with a reply that did not validate, in one phrase."""
    if was_cut(message):
        return cut_at_cap(cap)
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "reply"
    return f"{where}: {first['msg']}"
