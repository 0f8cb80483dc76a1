"""Chat completions on the wire: the JSON of OpenAI's chat API over one shared httpx pool.

`ChatOpenAI` talks to the API through an `async_client` with the interface of the openai
SDK's `AsyncCompletions` (`create(**payload)` and `with_raw_response.create(**payload)`), and
it accepts plain dicts for responses and stream chunks. `ChatCompletionsWire` is such a
client, written here because the SDK is measurably slow on copydesk's path: before each
request it walks the whole message list against its TypedDict unions (every variant of every
message, ~16 ms for 60 messages on this project's 2-core machine), and it builds a pydantic
model for every stream chunk that `ChatOpenAI` then dumps back to a dict. The request here is
the payload as `json.dumps` writes it and each chunk is one `json.loads` (`chunks.py`): the
same bytes on the wire, without either walk (benchmarks/peers.py). A reply, streamed or
whole, is checked for a cut (`cuts.py`).

Failures keep the SDK's exception types (`openai.RateLimitError`, `openai.APITimeoutError`,
...) with the real `httpx.Response`, so retries, Retry-After, the breaker and the one-line
errors above it work unchanged. Typed replies ask for `response_format` through
`extra_body`, which `ChatOpenAI` passes on untouched (its own `response_format` route needs
the SDK's parsing helpers).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import openai

from copydesk.agents.client.chunks import ChunkStream
from copydesk.agents.client.cuts import StreamCut, cap_of, marked_if_cut

__all__ = ["ChatCompletionsWire", "ChunkStream", "NoSyncCalls", "StreamCut"]

_NOT_BODY = frozenset({"extra_body", "extra_headers", "extra_query", "timeout"})
_STATUS_ERRORS: Mapping[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


class ChatCompletionsWire:
    """`create` for `/chat/completions`, plain or streamed, returning dicts.

    Args:
        http: The shared connection pool (its response hooks see every reply), or several,
            taken in turn (`copydesk.agents.client.pool.SHARD` says why).
        base_url: The API's base URL, e.g. `https://api.openai.com/v1`.
        api_key: Sent as a bearer token; never logged or put in an error. None when the
            pool's `auth` signs each request (the client's `KeyAuth`).
        path: The endpoint under `base_url` (the embeddings client posts to `/embeddings`).
    """

    def __init__(
        self,
        http: httpx.AsyncClient | Sequence[httpx.AsyncClient],
        base_url: str,
        api_key: str | None = None,
        path: str = "/chat/completions",
    ) -> None:
        self._shards = list(http) if isinstance(http, Sequence) else [http]
        self._turn = itertools.cycle(range(len(self._shards)))
        self._url = base_url.rstrip("/") + path
        self._headers = {"Accept": "application/json"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.with_raw_response = _RawResponses(self)

    async def create(self, **payload: Any) -> Any:
        """POST one request: a dict reply, or an async stream of dict chunks for `stream`."""
        response = await self.send(payload)
        if not payload.get("stream"):
            return marked_if_cut(await _json_of(response), cap_of(payload), response.request)
        return ChunkStream(response, cap=cap_of(payload))

    async def send(self, payload: Mapping[str, Any]) -> Any:
        """Send the request; an error status is raised as the openai SDK would raise it."""
        body = {k: v for k, v in payload.items() if k not in _NOT_BODY}
        body.update(payload.get("extra_body") or {})
        headers = {**self._headers, **(payload.get("extra_headers") or {})}
        # Typed Any: the openai SDK annotates its errors with its own httpx fork (httpx2), whose
        # Request and Response have the same surface as httpx's.
        http = self._shards[next(self._turn)]
        request: Any = http.build_request(
            "POST",
            self._url,
            content=json.dumps(body).encode(),
            headers={**headers, "Content-Type": "application/json"},
            params=payload.get("extra_query"),
        )
        try:
            response = await http.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise openai.APITimeoutError(request=request) from error
        except httpx.TransportError as error:
            raise openai.APIConnectionError(request=request) from error
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise _status_error(response)
        return response


class NoSyncCalls:
    """The synchronous client slot of `ChatOpenAI`, filled so that it does not build an
    unused `openai.OpenAI` (its TLS context alone costs ~0.3 s of CPU per model at start).
    copydesk calls models only asynchronously."""

    def __init__(self) -> None:
        self.with_raw_response = self

    def create(self, **payload: Any) -> Any:
        """Refuse: a synchronous call would block the event loop."""
        raise RuntimeError("copydesk calls chat models asynchronously; use ainvoke/astream")


class _RawResponses:
    """`with_raw_response.create(...)`: the reply with its headers, as `ChatOpenAI` asks."""

    def __init__(self, wire: ChatCompletionsWire) -> None:
        self._wire = wire

    async def create(self, **payload: Any) -> _RawResponse:
        response = await self._wire.send(payload)
        if payload.get("stream"):
            return _RawResponse(response, ChunkStream(response, cap=cap_of(payload)))
        reply = marked_if_cut(await _json_of(response), cap_of(payload), response.request)
        return _RawResponse(response, reply)


class _RawResponse:
    def __init__(self, response: httpx.Response, parsed: Any) -> None:
        self.http_response = response
        self.headers = response.headers
        self._parsed = parsed

    def parse(self) -> Any:
        return self._parsed


async def _json_of(response: Any) -> Any:
    """The whole body as JSON (a body that is not JSON raises `json.JSONDecodeError`, which
    the client retries); a connection cut while reading is the SDK's connection error."""
    try:
        await response.aread()
    except httpx.TimeoutException as error:
        raise openai.APITimeoutError(request=response.request) from error
    except httpx.TransportError as error:
        raise openai.APIConnectionError(request=response.request) from error
    finally:
        await response.aclose()
    return json.loads(response.content)


def _status_error(response: Any) -> openai.APIStatusError:
    """The openai SDK's exception for an error status, with the server's message."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = body.get("error") if isinstance(body, dict) else None
    detail = error.get("message") if isinstance(error, dict) else (error or body)
    message = f"Error code: {response.status_code} - {detail}"
    kind = _STATUS_ERRORS.get(response.status_code)
    if kind is None:
        kind = openai.InternalServerError if response.status_code >= 500 else openai.APIStatusError
    return kind(message, response=response, body=body)
