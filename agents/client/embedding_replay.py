"""Embeddings served from a cassette by text, however the requests batched them.

The memory store embeds what is waiting in as few requests as it can, so which texts share a
request depends on how turns interleave, and concurrent runs (an eval) batch them
differently each time. A replayed embeddings request is therefore answered text by text:
every text's vector is looked up among all the embeddings the cassette recorded for the same
model and options, and a reply is built in the recorded format. A request with a text never
recorded is not served (and is recorded, with `--record-missing`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["EmbeddingBook", "is_embeddings"]


def is_embeddings(request: Any) -> bool:
    """Whether `request` asks for embeddings."""
    return str(request.path).rstrip("/").endswith("/embeddings")


def _body(request: Any) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _options(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in sorted(body.items()) if k not in ("input", "user")})


class EmbeddingBook:
    """The vectors of a cassette's recorded embeddings, by options and text."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, str], Any] = {}
        self._read = 0

    def learn(self, data: Sequence[tuple[Any, Any]]) -> None:
        """Read the interactions recorded since the last call."""
        for request, response in data[self._read :]:
            body = _body(request) if is_embeddings(request) else None
            if body is None or (response.get("status") or {}).get("code") != 200:
                continue
            texts = body.get("input")
            try:
                reply = json.loads(response["body"]["string"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(texts, str):
                texts = [texts]
            for item in reply.get("data") or []:
                index = item.get("index", 0)
                if isinstance(texts, list) and 0 <= index < len(texts):
                    self._vectors[(_options(body), str(texts[index]))] = item.get("embedding")
        self._read = len(data)

    def reply(self, request: Any) -> dict[str, Any] | None:
        """A recorded-format response for `request`, or None if a text was never recorded."""
        body = _body(request)
        texts = body.get("input") if body else None
        if body is None or not isinstance(texts, list | str):
            return None
        options = _options(body)
        found = [
            self._vectors.get((options, str(t)))
            for t in ([texts] if isinstance(texts, str) else texts)
        ]
        if any(v is None for v in found):
            return None
        reply = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": n, "embedding": v} for n, v in enumerate(found)
            ],
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }
        return {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": ["application/json"]},
            "body": {"string": json.dumps(reply).encode()},
        }
