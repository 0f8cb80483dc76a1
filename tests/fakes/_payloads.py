"""JSON payloads of the fake OpenAI server, shaped like the real API's.

Builds ``chat.completion`` objects, the ``chat.completion.chunk`` sequence of a
streamed answer, embedding responses (deterministic hashed-trigram vectors)
and the model list.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import time
import uuid
from collections.abc import Mapping
from typing import Any

from tests.fakes._replies import Reply, call_arguments, estimate_tokens

__all__ = [
    "DEFAULT_DIMENSIONS",
    "MODEL_IDS",
    "chat_chunks",
    "chat_completion",
    "embedding_inputs",
    "embedding_vector",
    "embeddings_response",
    "models_response",
]

DEFAULT_DIMENSIONS = 1536
MODEL_IDS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
_DEFAULT_MODEL = "gpt-4o-mini"
_PIECE = 12
_ARGUMENT_PIECE = 8
_WORD = re.compile(r"\s*\S+\s*|\s+")


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    """Render the reply's tool calls in OpenAI format, inventing ids where missing."""
    return [
        {
            "id": str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
            "type": "function",
            "function": {"name": str(call.get("name", "")), "arguments": call_arguments(call)},
        }
        for call in reply.tool_calls or []
    ]


def _envelope(body: Mapping[str, Any], kind: str, completion_id: str) -> dict[str, Any]:
    """Fields shared by completions and chunks."""
    return {
        "id": completion_id,
        "object": kind,
        "created": int(time.time()),
        "model": str(body.get("model") or _DEFAULT_MODEL),
        "system_fingerprint": "fp_fake",
    }


def chat_completion(body: Mapping[str, Any], reply: Reply, usage: dict[str, int]) -> dict[str, Any]:
    """Build a non-streamed ``chat.completion`` object.

    Args:
        body: The request body (its ``model`` is echoed).
        reply: The answer to send.
        usage: The ``usage`` object.

    Returns:
        The response JSON.
    """
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    calls = _tool_calls(reply)
    if calls:
        message["tool_calls"] = calls
    payload = _envelope(body, "chat.completion", f"chatcmpl-{uuid.uuid4().hex}")
    payload["choices"] = [
        {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop"),
        }
    ]
    payload["usage"] = usage
    return payload


def _pieces(text: str, size: int) -> list[str]:
    """Split ``text`` into words, and long words into ``size``-character pieces."""
    pieces: list[str] = []
    for word in _WORD.findall(text):
        pieces.extend(word[i : i + size] for i in range(0, len(word), size))
    return pieces


def chat_chunks(
    body: Mapping[str, Any], reply: Reply, usage: dict[str, int]
) -> list[dict[str, Any]]:
    """Build the ``chat.completion.chunk`` sequence of a streamed answer.

    The first chunk carries the role, then content arrives a word at a time and
    each tool call as a header delta (index, id, name) followed by argument
    fragments. The last choice chunk has the ``finish_reason``; when the request
    sets ``stream_options.include_usage``, a final chunk with no choices carries
    the usage (and every other chunk has ``"usage": null``).

    Args:
        body: The request body.
        reply: The answer to send.
        usage: The ``usage`` object.

    Returns:
        The chunks, in order, without the ``[DONE]`` sentinel.
    """
    base = _envelope(body, "chat.completion.chunk", f"chatcmpl-{uuid.uuid4().hex}")
    options = body.get("stream_options")
    with_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    calls = _tool_calls(reply)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        extra: dict[str, Any] = {"usage": None} if with_usage else {}
        return {**base, "choices": [choice], **extra}

    first = {"role": "assistant", "content": "" if reply.content is not None else None}
    chunks = [chunk({**first, "refusal": None})]
    chunks.extend(chunk({"content": piece}) for piece in _pieces(reply.content or "", _PIECE))
    for index, call in enumerate(calls):
        function = call["function"]
        header = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": function["name"], "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [header]}))
        arguments = function["arguments"]
        chunks.extend(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in (
                arguments[i : i + _ARGUMENT_PIECE]
                for i in range(0, len(arguments), _ARGUMENT_PIECE)
            )
        )
    chunks.append(chunk({}, reply.finish_reason or ("tool_calls" if calls else "stop")))
    if with_usage:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def embedding_inputs(body: Mapping[str, Any]) -> list[tuple[str, int]] | None:
    """Normalise the ``input`` field to ``(text, tokens)`` pairs.

    Accepts a string, a list of strings, a list of token ids, or a list of
    token-id lists (token ids are hashed as their decimal text).

    Args:
        body: The embeddings request body.

    Returns:
        One pair per input, or ``None`` if ``input`` is missing or malformed.
    """
    raw = body.get("input")
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and raw and all(type(x) is int for x in raw):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        return None
    pairs: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, str):
            pairs.append((item, estimate_tokens(item)))
        elif isinstance(item, list) and all(type(x) is int for x in item):
            pairs.append((" ".join(str(x) for x in item), len(item)))
        else:
            return None
    return pairs


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """Embed ``text`` as an L2-normalised signed histogram of hashed character trigrams.

    Equal texts give equal vectors; texts sharing trigrams have positive cosine
    similarity.

    Args:
        text: The text to embed.
        dimensions: Vector length.

    Returns:
        A unit-length vector.
    """
    vector = [0.0] * dimensions
    padded = f"  {text} "
    for start in range(len(padded) - 2):
        digest = hashlib.blake2b(padded[start : start + 3].encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vector[value % dimensions] += 1.0 if value >> 63 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        vector[0], norm = 1.0, 1.0
    return [x / norm for x in vector]


def embeddings_response(
    body: Mapping[str, Any], inputs: list[tuple[str, int]], dimensions: int
) -> dict[str, Any]:
    """Build an embeddings response (``float`` lists or ``base64`` float32 data).

    Args:
        body: The request body (``model`` and ``encoding_format`` are honoured).
        inputs: Output of :func:`embedding_inputs`.
        dimensions: Vector length.

    Returns:
        The response JSON.
    """
    as_base64 = body.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    for index, (text, _) in enumerate(inputs):
        vector = embedding_vector(text, dimensions)
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count for _, count in inputs)
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or "text-embedding-3-small"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models_response() -> dict[str, Any]:
    """Build the ``GET /v1/models`` list."""
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for model in MODEL_IDS
        ],
    }
