"""Chat completions on the wire: the JSON of OpenAI's chat API over one shared httpx pool.

`ChatOpenAI` talks to the API through an `async_client` with the interface of the openai
SDK's `AsyncCompletions` (`create(**payload)` and `with_raw_response.create(**payload)`), and
it accepts plain dicts for responses and stream chunks. `ChatCompletionsWire` is such a
client, written here because the SDK is measurably slow on copydesk's path: before each
request it walks the whole message list against its TypedDict unions (every variant of every
message, ~16 ms for 60 messages on this project's 2-core machine), and it builds a pydantic
model for every stream chunk that `ChatOpenAI` then dumps back to a dict. The request here is
the payload as `json.dumps` writes it and each chunk is one `json.loads`: the same bytes on
the wire, without either walk (benchmarks/peers.py, issue 9).

Stream events that arrived together (one network read) are handed on as one chunk, plain
text deltas joined: each chunk costs a pass through langchain's callbacks, LangGraph's
message stream and copydesk's listeners, and a reply that arrives faster than it is read
paid that per token (half of a chat call's CPU on benchmarks/peers.py's 30-round row).

A stream is a reply only when it ends as one: a chunk with a finish reason, then
`data: [DONE]`. A body that ends without either is a cut stream (`StreamCut`), retried like a
dropped connection and never handed on as a reply (issue 11). A tool call whose arguments
are not complete JSON was cut at the output cap whatever finish reason the server gave
(llama.cpp says `tool_calls` even then, and langchain would close the JSON for it): its
finish reason is set to `length`, so the caller asks again with room to finish; arguments
that stop far below the cap were ended for another reason (llama.cpp ends a running call when
another request interrupts it) and are a cut stream; complete arguments are a whole call,
whatever finish reason came with them.

Failures keep the SDK's exception types (`openai.RateLimitError`, `openai.APITimeoutError`,
...) with the real `httpx.Response`, so retries, Retry-After, the breaker and the one-line
errors above it work unchanged. Typed replies ask for `response_format` through
`extra_body`, which `ChatOpenAI` passes on untouched (its own `response_format` route needs
the SDK's parsing helpers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import httpx
import openai

__all__ = ["ChatCompletionsWire", "NoSyncCalls", "StreamCut"]

_ENDED_EARLY = "a tool call's arguments, ended far below the output cap"
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


class StreamCut(openai.APIConnectionError):
    """The server ended a streamed reply before it was complete: no chunk carried a finish
    reason, or the `data: [DONE]` end marker never came. llama.cpp does this to a running
    stream when a second request preempts it. A cut reply is never a reply: it is retried
    like a dropped connection."""

    def __init__(
        self, request: Any, *, finished: bool, done: bool, missing: str | None = None
    ) -> None:
        self.missing = missing or " and ".join(
            what
            for what, seen in (("no finish reason", finished), ("no [DONE] marker", done))
            if not seen
        )
        """What the stream lacked, e.g. `no finish reason and no [DONE] marker`."""
        super().__init__(message=f"the stream ended early ({self.missing})", request=request)


class ChatCompletionsWire:
    """`create` for `/chat/completions`, plain or streamed, returning dicts.

    Args:
        http: The shared connection pool (its response hooks see every reply).
        base_url: The API's base URL, e.g. `https://api.openai.com/v1`.
        api_key: Sent as a bearer token; never logged or put in an error. None when the
            pool's `auth` signs each request (the client's `KeyAuth`).
        path: The endpoint under `base_url` (the embeddings client posts to `/embeddings`).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None = None,
        path: str = "/chat/completions",
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + path
        self._headers = {"Accept": "application/json"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.with_raw_response = _RawResponses(self)

    async def create(self, **payload: Any) -> Any:
        """POST one request: a dict reply, or an async stream of dict chunks for `stream`."""
        response = await self.send(payload)
        if not payload.get("stream"):
            return _marked_if_cut(await _json_of(response), _cap_of(payload), response.request)
        return ChunkStream(response, cap=_cap_of(payload))

    async def send(self, payload: Mapping[str, Any]) -> Any:
        """Send the request; an error status is raised as the openai SDK would raise it."""
        body = {k: v for k, v in payload.items() if k not in _NOT_BODY}
        body.update(payload.get("extra_body") or {})
        headers = {**self._headers, **(payload.get("extra_headers") or {})}
        # Typed Any: the openai SDK annotates its errors with its own httpx fork (httpx2), whose
        # Request and Response have the same surface as httpx's.
        request: Any = self._http.build_request(
            "POST",
            self._url,
            content=json.dumps(body).encode(),
            headers={**headers, "Content-Type": "application/json"},
            params=payload.get("extra_query"),
        )
        try:
            response = await self._http.send(request, stream=True)
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


class ChunkStream:
    """The server-sent events of a streamed reply, each `data:` line as one dict."""

    def __init__(self, response: httpx.Response, *, cap: int | None = None) -> None:
        self.response: Any = response
        self.cap = cap

    async def __aenter__(self) -> ChunkStream:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        request = self.response.request
        reading = _Reading(request, self.cap)
        batches = _line_batches(self.response)
        try:
            async with contextlib.aclosing(batches):
                async for lines in batches:
                    chunks = [chunk for line in lines if (chunk := reading.chunk(line))]
                    for chunk in _joined(chunks):
                        yield chunk
        except httpx.TimeoutException as error:
            raise openai.APITimeoutError(request=request) from error
        except httpx.TransportError as error:
            raise openai.APIConnectionError(request=request) from error
        finally:
            await self.response.aclose()
        reading.check_complete()


class _Reading:
    """What a stream has said so far: its chunks' finish reasons, tool-call arguments and end
    marker."""

    def __init__(self, request: Any, cap: int | None = None) -> None:
        self.request = request
        self.cap = cap
        self.done = self.finished = self.said = self.ended_early = False
        self.arguments: dict[int, str] = {}  # each tool call's arguments so far
        self.pieces = 0  # chunks that carried tool-call arguments (a token each on llama.cpp)

    def chunk(self, line: str) -> dict[str, Any] | None:
        """The chunk of one `data:` line; None for anything else."""
        if self.done or not line.startswith("data:"):
            return None  # comments, blank lines; after [DONE], the body is read to its end
            # so the connection goes back to the pool instead of being closed
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return None
        chunk: dict[str, Any] = json.loads(data)
        if isinstance(chunk, dict) and chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise openai.APIError(str(message or "error in stream"), self.request, body=chunk)
        self.pieces += _gather_arguments(chunk, self.arguments)
        if _finishes(chunk):
            self.finished = True
            if any(not _complete_json(text) for text in self.arguments.values()):
                if self._far_below_cap():
                    self.ended_early = True
                else:
                    _mark_length(chunk)
            elif self.arguments:
                _mark_complete(chunk)
        self.said = True
        return chunk

    def _far_below_cap(self) -> bool:
        """True when the incomplete tool call is too short to have reached the output cap."""
        written = max(self.pieces, sum(len(text) for text in self.arguments.values()) // 4)
        return _far_below(self.cap, written)

    def check_complete(self) -> None:
        """Raise `StreamCut` unless the stream ended as a reply does (nothing then `[DONE]`
        is an empty reply, which the client handles)."""
        if self.ended_early:
            raise StreamCut(
                self.request,
                finished=True,
                done=self.done,
                missing=_ENDED_EARLY,
            )
        if not self.done or (self.said and not self.finished):
            raise StreamCut(self.request, finished=self.finished, done=self.done)


async def _line_batches(response: Any) -> AsyncGenerator[list[str], None]:
    """The body's lines, each time with every line that has arrived by then.

    A task reads the lines as they come; each step hands on all that it read meanwhile (the
    lines of one network read come out of httpx one by one without waiting, so the task
    reads them all before the caller runs again)."""
    arrived: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for line in response.aiter_lines():
                arrived.put_nowait(line)
        except Exception as error:  # handed to the caller, raised there
            arrived.put_nowait(error)
        else:
            arrived.put_nowait(None)

    reader = asyncio.create_task(read())
    try:
        while True:
            items = [await arrived.get()]
            while not arrived.empty():
                items.append(arrived.get_nowait())
            lines = [item for item in items if isinstance(item, str)]
            if lines:
                yield lines
            last = items[-1]
            if isinstance(last, BaseException):
                raise last
            if last is None:
                return
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def _joined(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`chunks` with each run of plain text deltas that arrived together as one chunk.

    A server writes a token per event; what one read of the network brought is shown at
    once anyway, and every chunk costs a pass through langchain's callbacks, LangGraph's
    message stream and the listeners (most of a call's CPU when replies arrive faster than
    they are read). Role, tool-call, finish and usage chunks are kept as they are."""
    if len(chunks) < 2:
        return chunks
    joined: list[dict[str, Any]] = []
    for chunk in chunks:
        text = _text_delta(chunk)
        last = joined[-1] if joined else None
        if (
            text is not None
            and last is not None
            and _text_delta(last) is not None
            and "role" not in chunk["choices"][0]["delta"]
        ):
            last["choices"][0]["delta"]["content"] += text
            continue
        joined.append(chunk)
    return joined


def _text_delta(chunk: Any) -> str | None:
    """The text of a chunk that carries only text (one choice, no finish, no log-probs, no
    usage, no tool calls), else None."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list) or len(choices) != 1 or chunk.get("usage"):
        return None
    choice = choices[0]
    if not isinstance(choice, dict) or choice.get("finish_reason") or choice.get("logprobs"):
        return None
    delta = choice.get("delta")
    if not isinstance(delta, dict) or not delta.keys() <= {"role", "content", "refusal"}:
        return None
    content = delta.get("content")
    return content if isinstance(content, str) and delta.get("refusal") is None else None


def _gather_arguments(chunk: Any, arguments: dict[int, str]) -> int:
    """Add the tool-call argument fragments of a stream chunk to `arguments` (by index);
    return how many there were."""
    found = 0
    for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        for call in (delta or {}).get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            piece = (function or {}).get("arguments")
            if isinstance(piece, str):
                index = call.get("index", 0)
                arguments[index] = arguments.get(index, "") + piece
                found += 1
    return found


def _complete_json(text: str) -> bool:
    """True when `text` is one whole JSON value. Raw control characters inside strings are
    allowed (`strict=False`, as langchain parses tool-call arguments): a grammar-constrained
    server (llama.cpp) writes newlines into string values unescaped."""
    try:
        json.loads(text, strict=False)
    except ValueError:
        return False
    return True


def _mark_length(chunk: dict[str, Any]) -> None:
    """Say `length` as the finish reason of every choice of `chunk` that has one."""
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("finish_reason"):
            choice["finish_reason"] = "length"


def _cap_of(payload: Mapping[str, Any]) -> int | None:
    """The output cap a request sent, if any: in `extra_body` (where the client puts
    `max_tokens` for servers other than OpenAI's, `send` merges it into the body) or at the
    top (`max_completion_tokens` for OpenAI)."""
    extra = payload.get("extra_body") or {}
    for cap in (
        extra.get("max_tokens"),
        extra.get("max_completion_tokens"),
        payload.get("max_tokens"),
        payload.get("max_completion_tokens"),
    ):
        if isinstance(cap, int) and cap > 0:
            return cap
    return None


def _far_below(cap: int | None, written: int) -> bool:
    """True when `written` tokens of an incomplete tool call are too few to have reached
    the output `cap`: the server ended it for another reason (llama.cpp ends a running call
    with its usual finish reason when another request interrupts it)."""
    return bool(cap) and written < (cap or 0) // 2


def _mark_complete(chunk: dict[str, Any]) -> None:
    """Say `tool_calls` where a chunk says `length` although every tool call's arguments are
    complete JSON: the call is whole (llama.cpp was seen to say `length` for such calls, and a
    typed reply taken as cut would be thrown away)."""
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("finish_reason") == "length":
            choice["finish_reason"] = "tool_calls"


def _marked_if_cut(reply: Any, cap: int | None, request: Any) -> Any:
    """A whole reply, its finish reason `length` where a tool call's arguments are cut at
    the cap; `StreamCut` where they stopped far below it."""
    usage = reply.get("usage") if isinstance(reply, dict) else None
    for choice in reply.get("choices") or () if isinstance(reply, dict) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        calls = (message or {}).get("tool_calls") or ()
        texts = [(c.get("function") or {}).get("arguments") for c in calls if isinstance(c, dict)]
        cut = [t for t in texts if isinstance(t, str) and not _complete_json(t)]
        if not cut:
            if texts and choice.get("finish_reason") == "length":
                choice["finish_reason"] = "tool_calls"  # whole arguments: a whole call
            continue
        reported = (usage or {}).get("completion_tokens") if isinstance(usage, dict) else None
        written = reported if isinstance(reported, int) else sum(map(len, cut)) // 4
        if _far_below(cap, written):
            raise StreamCut(request, finished=True, done=True, missing=_ENDED_EARLY)
        choice["finish_reason"] = "length"
    return reply


def _finishes(chunk: Any) -> bool:
    """True when a stream chunk carries a finish reason (the reply is complete)."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return any(isinstance(c, dict) and c.get("finish_reason") for c in choices or ())


class _RawResponses:
    """`with_raw_response.create(...)`: the reply with its headers, as `ChatOpenAI` asks."""

    def __init__(self, wire: ChatCompletionsWire) -> None:
        self._wire = wire

    async def create(self, **payload: Any) -> _RawResponse:
        response = await self._wire.send(payload)
        if payload.get("stream"):
            return _RawResponse(response, ChunkStream(response, cap=_cap_of(payload)))
        reply = _marked_if_cut(await _json_of(response), _cap_of(payload), response.request)
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
