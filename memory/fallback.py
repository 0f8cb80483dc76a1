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

import httpx

from copydesk.memory.embeddings import Embedder

__all__ = ["serving_embedder"]

log = logging.getLogger("copydesk.memory")

_decided: dict[tuple[str | None, str], bool] = {}
_lock = threading.Lock()


def _serves(base_url: str, auth: httpx.Auth | None, model: str) -> tuple[bool, str]:
    """Whether `base_url` answers an embeddings request for `model`, and why not.

    Signed by `auth` like every other request (the key of this moment, the use audited).
    """
    url = base_url.rstrip("/") + "/embeddings"
    try:
        with httpx.Client(auth=auth, timeout=30.0) as http:
            response = http.post(url, json={"model": model, "input": ["probe"]})
    except httpx.HTTPError:
        return True, ""  # unreachable: an outage, not a missing feature
    if response.status_code < 400 or response.status_code in (401, 403, 429):
        return True, ""  # a key or rate problem, not a missing feature
    return False, f"HTTP {response.status_code}: {' '.join(_message(response).split())[:120]}"


def _message(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the body's text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or error or body)


def serving_embedder(
    embedder: Embedder,
    local: Embedder,
    *,
    base_url: str | None,
    auth: httpx.Auth | None = None,
    model: str,
) -> Embedder:
    """`embedder` (of `model` at `base_url`) when that endpoint serves embeddings, else
    `local` (decided once per endpoint and model in this process, and said once)."""
    if base_url is None or "api.openai.com" in base_url:
        return embedder  # OpenAI itself serves embeddings
    key = (base_url, model)
    with _lock:
        known = _decided.get(key)
    if known is None:
        known, why = _serves(base_url, auth, model)
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
