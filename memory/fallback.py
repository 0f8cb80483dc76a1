"""Recall on a server without embeddings: one probe, then the local embedder, said once.

Many OpenAI-compatible servers answer chat but not `/v1/embeddings` (llama.cpp started
without embeddings answers 500, others 404). Before a store is opened with the endpoint's
embedder, one request with no retries asks for one vector; when the server refuses, recall
uses the local embedder instead of failing (and being retried) turn after turn. A server
that cannot be reached at all keeps its embedder: that is an outage, not a missing feature,
and the store's own error handling covers it. The answer is kept by whoever owns the
endpoint (the client's capability book, through `decide`), not by this module: two clients,
or two tests, never share a verdict.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from copydesk.memory.embeddings import Embedder

__all__ = ["Decide", "serving_embedder"]

Decide = Callable[[str, str, Callable[[], tuple[bool, str]]], bool]
"""(endpoint, model, probe) -> whether it serves embeddings: calls `probe()` (which returns
the answer and why not) the first time, remembers and says the answer, then returns it."""


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
    decide: Decide,
) -> Embedder:
    """`embedder` (of `model` at `base_url`) when that endpoint serves embeddings, else
    `local`: `decide` probes once per endpoint and model and remembers the answer."""
    if base_url is None or "api.openai.com" in base_url:
        return embedder  # OpenAI itself serves embeddings
    served = decide(base_url, model, lambda: _serves(base_url, auth, model))
    return embedder if served else local
