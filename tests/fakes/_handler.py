"""HTTP plumbing of the fake OpenAI server: the socket server and request handler.

The handler records each request on the owning :class:`FakeOpenAIServer`, then
applies, in order: latency and any delay fault; ``drop`` and ``status`` faults;
the API-key check; routing; the rate budget; and finally the answer, which
``malformed``, ``cut_stream``, ``end_stream`` and ``bad_content`` faults may corrupt.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import socket
import socketserver
import struct
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.fakes import _payloads
from tests.fakes._budget import format_seconds
from tests.fakes._faults import Fault, FaultKind, error_body
from tests.fakes._replies import Reply, cut_at, usage_of

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAIServer

__all__ = ["FakeHTTPServer", "FakeRequestHandler"]

_MAX_DIMENSIONS = 65_536


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux


class _StampedReader(io.RawIOBase):
    """A connection's reads, each with the kernel's receive time of its bytes.

    The arrival of a request is when its first bytes reached the machine, not when a handler
    thread got round to reading them: on a loaded machine (or with the GIL busy) a thread can
    wake tens of milliseconds late, and two requests that arrived 100 ms apart would then be
    stamped a few ms apart, a burst that never happened, refused by the rate budget.
    """

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self.arrival: float | None = None
        """`time.monotonic()` when the first bytes read since `next_request()` arrived."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size, ancillary, _, _ = self._connection.recvmsg_into([buffer], 64)
        if self.arrival is None:
            self.arrival = _monotonic_of(ancillary)
        return size

    def next_request(self) -> None:
        """The next bytes read begin a new request."""
        self.arrival = None


def _monotonic_of(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel receive time in `ancillary`, on the monotonic clock (now if there is none)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            age = time.time() - (seconds + nanoseconds / 1e9)
            return time.monotonic() - max(0.0, age)
    return time.monotonic()


class FakeHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server bound to one :class:`FakeOpenAIServer`."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # the default listen backlog of 5 resets bursts of connects

    def __init__(self, address: tuple[str, int], fake: FakeOpenAIServer) -> None:
        """Bind ``address`` and serve requests on behalf of ``fake``.

        Args:
            address: ``(host, port)``; port 0 picks a free port.
            fake: The server whose state the handlers use.
        """
        self.fake = fake
        super().__init__(address, FakeRequestHandler)

    def server_bind(self) -> None:
        """Bind without the reverse-DNS lookup ``HTTPServer`` does; accepted connections
        have their bytes stamped with the kernel's receive time."""
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Report handler bugs, but not clients hanging up (routine in fault tests)."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeRequestHandler(BaseHTTPRequestHandler):
    """Answers one keep-alive connection's requests like the OpenAI API."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate small writes; with Nagle's algorithm on, the second
    # waits for the client's delayed ACK (~40 ms a response on loopback).
    disable_nagle_algorithm = True
    server: FakeHTTPServer

    def setup(self) -> None:
        """Register the connection so ``stop()`` can close it."""
        super().setup()
        self._reader = _StampedReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)
        self.server.fake._track(self.connection, add=True)
        self._arrival = 0.0  # when the request being answered arrived
        self._model = ""  # the model it names, whose rate budget it spends

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST request."""
        self._serve()

    def _serve(self) -> None:
        """Record, fault, authenticate, route and answer one request."""
        self.server.fake._begin()
        try:
            self._answer()
        except (OSError, ValueError):
            self.close_connection = True
        finally:
            self._reader.next_request()  # (a pipelined request read with this one: now)
            self.server.fake._end()

    def _answer(self) -> None:
        """Run the request through the pipeline described in the module docstring."""
        fake = self.server.fake
        arrival = self._arrival = min(self._reader.arrival or math.inf, time.monotonic())
        body = _parse_json(self._read_body())
        model = body.get("model") if isinstance(body, dict) else None
        self._model = model if isinstance(model, str) else ""
        path = urlsplit(self.path).path.rstrip("/") or "/"
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = fake._arrive(self.command, path, headers, body, arrival)
        if not fake._pause(fake.latency + (fault.pause if fault else 0.0)):
            self._abort()
            return
        if fault is not None and fault.kind is FaultKind.DROP:
            self._abort()
            return
        if fault is not None and fault.kind is FaultKind.STATUS:
            self._status_fault(fault)
            return
        if not fake._authorized(headers.get("authorization")):
            self._error(401, "Incorrect API key provided")
            return
        route = (self.command, path)
        if route == ("POST", "/v1/chat/completions"):
            self._chat(body, fault)
        elif route == ("POST", "/v1/embeddings"):
            self._embeddings(body, fault)
        elif route == ("GET", "/v1/models"):
            if self._admit(0):
                self._send_json(200, _payloads.models_response(), fault)
        else:
            self._error(404, f"Unknown request URL: {self.command} {path}")

    def _chat(self, body: Any, fault: Fault | None) -> None:
        """Answer ``POST /v1/chat/completions``."""
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._error(400, "Request body must be JSON with a 'messages' list")
            return
        quirks = self.server.fake.llama_cpp
        if quirks is not None:
            refusal = quirks.refusal(body)
            if refusal is not None:
                self._error(*refusal)
                return
            wanted = quirks.over_context(body)
            if wanted is not None:
                if body.get("stream") is True:
                    self._stream([], fault)  # llama.cpp: 200 and an empty stream
                else:
                    self._error(400, quirks.context_error(wanted))
                return
        if fault is not None and fault.kind is FaultKind.BAD_CONTENT:
            reply = Reply(content=fault.text)
        else:
            try:
                reply = self.server.fake.responder(body)
            except Exception as exc:  # a broken test responder should be visible, not a hang
                self._error(500, f"Fake responder failed: {exc!r}")
                return
        if quirks is not None:
            reply = quirks.respond(body, reply)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if self.server.fake.cap_replies and isinstance(limit, int):
            reply = cut_at(reply, limit)
        usage = usage_of(body, reply)
        budgeted = limit if isinstance(limit, int) else usage["completion_tokens"]
        if not self._admit(usage["prompt_tokens"] + budgeted):
            return
        with self.server.fake._lock:
            self.server.fake.served.append(usage)
        if body.get("stream") is True:
            shaped = quirks.stream_body(body) if quirks is not None else body
            self._stream(_payloads.chat_chunks(shaped, reply, usage), fault)
        else:
            self._send_json(200, _payloads.chat_completion(body, reply, usage), fault)

    def _embeddings(self, body: Any, fault: Fault | None) -> None:
        """Answer ``POST /v1/embeddings`` (after ``embeddings_latency``)."""
        if not self.server.fake._pause(self.server.fake.embeddings_latency):
            self._abort()
            return
        if self.server.fake.llama_cpp is not None and not self.server.fake.llama_cpp.embeddings:
            self._error(500, "Llama model must be created with embedding=True to call this method")
            return
        inputs = _payloads.embedding_inputs(body) if isinstance(body, dict) else None
        if not isinstance(body, dict) or inputs is None:
            self._error(400, "'input' must be a string, a list of strings or token lists")
            return
        dimensions = body.get("dimensions") or _payloads.DEFAULT_DIMENSIONS
        if not isinstance(dimensions, int) or not 0 < dimensions <= _MAX_DIMENSIONS:
            self._error(400, f"Invalid 'dimensions': {dimensions!r}")
            return
        if self._admit(sum(count for _, count in inputs)):
            self._send_json(200, _payloads.embeddings_response(body, inputs, dimensions), fault)

    def _admit(self, tokens: int) -> bool:
        """Spend budget for this request, or send a 429 and return ``False``."""
        wait = self.server.fake._admit(tokens, self._arrival, self._model)
        if wait is None:
            return True
        self._error(
            429,
            f"Rate limit reached; please try again in {format_seconds(wait)}s",
            {"Retry-After": format_seconds(wait), "retry-after-ms": str(math.ceil(wait * 1000))},
        )
        return False

    def _status_fault(self, fault: Fault) -> None:
        """Send the error status a ``Fault.status`` asks for."""
        extra: dict[str, str] = {}
        if fault.retry_after is not None:
            extra["Retry-After"] = format_seconds(fault.retry_after)
        if fault.retry_after_ms is not None:
            extra["retry-after-ms"] = str(fault.retry_after_ms)
        self._error(fault.code, None, extra)

    def _error(
        self, code: int, message: str | None, extra: Mapping[str, str] | None = None
    ) -> None:
        """Send an OpenAI-style error body."""
        self._send_json(code, error_body(code, message), None, extra)

    def _start(self, code: int, content_type: str, extra: Mapping[str, str] | None) -> None:
        """Send the status line and common headers (caller adds framing headers)."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", f"req_{time.monotonic_ns():x}")
        for name, value in {**self.server.fake._rate_headers(self._model), **(extra or {})}.items():
            self.send_header(name, value)

    def _send_json(
        self,
        code: int,
        payload: Mapping[str, Any],
        fault: Fault | None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """Send a JSON body, applying ``malformed`` / ``cut_stream`` faults."""
        kind = fault.kind if fault is not None else None
        data = json.dumps(payload).encode()
        if kind is FaultKind.MALFORMED:
            data = b'{"id": "chatcmpl-fake", "choices": [ {not json'
        self._start(code, "application/json", extra)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if kind is FaultKind.CUT_STREAM:
            self.wfile.write(data[: len(data) // 2])
            self._abort()
            return
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, chunks: list[dict[str, Any]], fault: Fault | None) -> None:
        """Send chunks as Server-Sent Events over chunked transfer encoding."""
        kind = fault.kind if fault is not None else None
        ending = fault if fault is not None and kind is FaultKind.END_STREAM else None
        if ending is not None:
            chunks = _ended(chunks, ending)
        events = [json.dumps(chunk) for chunk in chunks]
        if kind is FaultKind.MALFORMED:
            events = ["{not json"]
        self._start(200, "text/event-stream; charset=utf-8", {"Cache-Control": "no-cache"})
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        quirks, serial = self.server.fake.llama_cpp, self.server.fake.chat_serial
        for sent, event in enumerate(events):
            if quirks is not None and sent:
                self.server.fake._pause(quirks.chunk_delay)
                if quirks.cut_on_concurrent and self.server.fake.chat_serial != serial:
                    break  # llama.cpp: a new request ends this stream, no finish reason
            if kind is FaultKind.CUT_STREAM and fault is not None and sent >= fault.after_chunks:
                self._abort()
                return
            self._write_chunk(f"data: {event}\n\n".encode())
        if kind is FaultKind.CUT_STREAM:
            self._abort()
            return
        if ending is None or ending.done:
            self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        """Write one HTTP/1.1 chunk and flush it to the client."""
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _abort(self) -> None:
        """Close the connection abruptly, mid-response if one was started."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes:
        """Read the request body (``Content-Length`` or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


def _ended(chunks: list[dict[str, Any]], fault: Fault) -> list[dict[str, Any]]:
    """The chunks an ``end_stream`` fault lets through: the first ``end_after`` of them,
    without any ``finish_reason`` unless the fault keeps it."""
    kept = chunks if fault.end_after is None else chunks[: fault.end_after]
    if fault.finish:
        return kept
    return [
        {**chunk, "choices": [{**c, "finish_reason": None} for c in chunk.get("choices", [])]}
        for chunk in kept
    ]


def _parse_json(raw: bytes) -> Any:
    """Decode a JSON body; ``None`` when empty or invalid."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
