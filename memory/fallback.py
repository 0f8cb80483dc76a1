"""Recall on a server without embeddings: one probe, then the local embedder, said once.

Many OpenAI-compatible servers answer chat but not `/v1/embeddings` (llama.cpp started
without embeddings answers 500, others 404). Before a store is opened with the endpoint's
embedder, one request with no retries asks for one vector; when the server refuses, recall
uses the local embedder for the rest of the process instead of failing (and being retried)
turn after turn. A server that cannot be reached at all keeps its embedder: that is an
outage, not a missing feature, and the store's own error handling covers it.
"""

from __future__ import annotations

import logging
import threading

import openai

from memory.embeddings import Embedder

__all__ = ["serving_embedder"]

log = logging.getLogger("copydesk.memory")

_decided: dict[tuple[str | None, str], bool] = {}
_lock = threading.Lock()


def _serves(base_url: str, api_key: str | None, model: str) -> tuple[bool, str]:
    client = openai.OpenAI(
        api_key=api_key or "not-needed", base_url=base_url, timeout=30.0, max_retries=0
    )
    try:
        with client:
            client.embeddings.create(model=model, input=["probe"])
    except openai.APIStatusError as error:
        if error.status_code in (401, 403, 429):
            return True, ""  # a key or rate problem, not a missing feature
        return False, f"HTTP {error.status_code}: {' '.join(str(error.message).split())[:120]}"
    except openai.APIError:
        return True, ""
    return True, ""


def serving_embedder(
    embedder: Embedder, local: Embedder, *, base_url: str | None, api_key: str | None, model: str
) -> Embedder:
    """`embedder` (of `model` at `base_url`) when that endpoint serves embeddings, else
    `local` (decided once per endpoint and model in this process, and said once)."""
    if base_url is None or "api.openai.com" in base_url:
        return embedder  # OpenAI itself serves embeddings
    key = (base_url, model)
    with _lock:
        known = _decided.get(key)
    if known is None:
        known, why = _serves(base_url, api_key, model)
        with _lock:
            if key not in _decided:
                _decided[key] = known
                if not known:
                    log.warning(
                        "%s serves no embeddings for %s (%s); recall uses the local %s "
                        "embedder instead",
                        base_url,
                        model,
                        why,
                        local.name,
                    )
    return embedder if known else local
