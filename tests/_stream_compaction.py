"""Recorded model streams made small: consecutive token deltas of a server-sent-events body
merged into one chunk, and keep-alive comments dropped.

A llama.cpp stream sends one `data:` event per token, each repeating the id, model and
timestamp: a reply of 160 tokens is ~50 kB. Merged, the same stream carries the same text,
tool-call arguments, finish reason and usage in a few events, and a client reads the same
reply from it, so a replay gives the same run. The real-model tier compacts its cassettes
this way when it records them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["compact_cassette", "compact_stream"]


def compact_cassette(path: Path) -> None:
    """Compact every streamed reply recorded in the cassette at `path`, in place."""
    document = json.loads(path.read_text(encoding="utf-8"))
    for exchange in document.get("interactions", []):
        body = exchange.get("response", {}).get("body") or {}
        text = body.get("string")
        if isinstance(text, str) and text.lstrip().startswith((":", "data: ")):
            body["string"] = compact_stream(text)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def compact_stream(text: str) -> str:
    """`text` (a server-sent-events body) with its token deltas merged, comments dropped."""
    blocks: list[str] = []
    last: dict[str, Any] | None = None  # the chunk of blocks[-1], when it is one
    for block in (b.strip("\n") for b in text.split("\n\n")):
        if not block or block.startswith(":"):
            continue
        chunk = _chunk(block)
        if chunk is not None and last is not None and _merged(last, chunk):
            blocks[-1] = "data: " + json.dumps(last)
            continue
        blocks.append(block)
        last = chunk
    return "".join(f"{b}\n\n" for b in blocks)


def _chunk(block: str) -> dict[str, Any] | None:
    if not block.startswith("data: ") or block == "data: [DONE]":
        return None
    try:
        chunk = json.loads(block[len("data: ") :])
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None


def _set(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _delta(chunk: dict[str, Any]) -> dict[str, Any] | None:
    """The delta of a one-choice chunk that ends nothing and reports no usage."""
    choices = chunk.get("choices")
    if chunk.get("usage") or not isinstance(choices, list) or len(choices) != 1:
        return None
    choice = choices[0]
    if choice.get("finish_reason") is not None or not isinstance(choice.get("delta"), dict):
        return None
    delta: dict[str, Any] = choice["delta"]
    return delta


def _merged(into: dict[str, Any], chunk: dict[str, Any]) -> bool:
    """Append `chunk`'s text or tool-call arguments to `into`'s when both carry only that."""
    before, after = _delta(into), _delta(chunk)
    if before is None or after is None:
        return False
    if set(_set(after)) == {"content"} and set(_set(before)) <= {"content", "role"}:
        if isinstance(before.get("content"), str):
            before["content"] += after["content"]
            return True
        return False
    keys = set(_set(after))
    if "tool_calls" not in keys or keys - {"tool_calls", "function_call"}:
        return False
    if set(_set(before)) - {"role"} != keys or len(before["tool_calls"]) != 1:
        return False
    [old], [new] = before["tool_calls"], after["tool_calls"]
    if old.get("index") != new.get("index") or set(_set(new)) - {"index", "id", "type", "function"}:
        return False
    if any(new.get(k) not in (None, old.get(k)) for k in ("id", "type")):
        return False
    if not _appendable(old.get("function"), new.get("function")):
        return False
    if "function_call" in keys and not _appendable(before["function_call"], after["function_call"]):
        return False
    _append(old["function"], new["function"])
    if "function_call" in keys:  # the legacy field, which llama.cpp's server sends as well
        _append(before["function_call"], after["function_call"])
    return True


def _appendable(old: Any, new: Any) -> bool:
    """Whether `new` (a function delta) only continues `old`'s arguments, under its name."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False
    given = _set(new)
    return (
        set(given) - {"name", "arguments"} == set()
        and isinstance(given.get("arguments"), str)
        and isinstance(old.get("arguments"), str)
        and given.get("name") in (None, old.get("name"))
    )


def _append(old: dict[str, Any], new: dict[str, Any]) -> None:
    old["arguments"] += new["arguments"]
