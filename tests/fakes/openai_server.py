"""A real HTTP server that speaks enough of the OpenAI API for tests and benchmarks.

``FakeOpenAIServer`` listens on ``127.0.0.1`` (a free port by default) using
only the standard library, so the real ``openai`` SDK, ``langchain_openai`` or
any HTTP client can talk to it. It serves ``POST /v1/chat/completions``
(plain and streamed), ``POST /v1/embeddings`` and ``GET /v1/models``, records
every request, and can inject faults, latency and rate limits::

    with FakeOpenAIServer() as server:
        server.faults.add(Fault.status(429, retry_after=0.5), Fault.drop())
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)

Run ``python -m tests.fakes.openai_server --help`` for the stand-alone CLI,
which prints one ``FAKE_OPENAI_BASE_URL=...`` line and serves until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from tests.fakes._budget import RateBudget
from tests.fakes._faults import Fault, FaultKind, FaultQueue
from tests.fakes._handler import FakeHTTPServer
from tests.fakes._llamacpp import LlamaCppQuirks
from tests.fakes._replies import DefaultResponder, Reply, Responder

__all__ = [
    "CHAT_PATH",
    "FakeOpenAIServer",
    "Fault",
    "FaultKind",
    "FaultQueue",
    "LlamaCppQuirks",
    "RecordedRequest",
    "Reply",
    "Responder",
    "main",
]

CHAT_PATH = "/v1/chat/completions"
_HOST = "127.0.0.1"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    Attributes:
        method: HTTP method, e.g. ``"POST"``.
        path: URL path without query string or trailing slash.
        headers: Request headers with lower-cased names.
        body: The parsed JSON body if it was a JSON object, else ``None``.
        time: ``time.monotonic()`` of its arrival: when its first bytes reached the machine
            (the kernel's receive time, not when a handler thread read them).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    time: float


class FakeOpenAIServer:
    """OpenAI-compatible HTTP server with recording, faults and rate limits.

    Attributes:
        api_key: When set, requests must send ``Authorization: Bearer <api_key>``
            or get a 401; when ``None`` any (or no) key is accepted.
        latency: Seconds to wait before answering every request.
        responder: Builds the reply from a chat request's JSON body.
        faults: One-shot faults, consumed one per incoming request.
        rpm_headers: Report request limits per minute in ``x-ratelimit-*-requests``, as
            OpenAI does (``enforce(rps=5)`` is sent as a limit of 300), instead of per
            one-second window; a client that learns its pace from the headers needs this.
        always: A fault applied to every request while set (a queued one-shot
            fault takes precedence for the request that consumes it).
    """

    def __init__(self, api_key: str | None = None, *, port: int = 0) -> None:
        """Create a stopped server.

        Args:
            api_key: The key to require, or ``None`` to accept anything.
            port: Port to bind on ``127.0.0.1``; 0 picks a free one.
        """
        self.api_key = api_key
        self.latency: float = 0.0
        self.embeddings_latency: float = 0.0
        """Extra seconds before answering an embeddings request (a slow embedding server)."""
        self.rpm_headers = False
        self.faults = FaultQueue()
        self.always: Fault | None = None
        self._default_responder = DefaultResponder()
        self.responder: Responder = self._default_responder
        self._wanted_port = port
        self._limits: tuple[float | None, int | None] = (None, None)
        self._model_limits: dict[str, tuple[float | None, int | None]] = {}
        self._budgets: dict[str, RateBudget] = {}  # per model, as providers count
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._rejected = 0
        self._rejected_by_model: dict[str, int] = {}
        self._in_flight = 0
        self._peak_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._opened = 0
        self._stopping = threading.Event()
        self._httpd: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.llama_cpp: LlamaCppQuirks | None = None
        """When set, behave like llama-cpp-python's server where it differs (see
        `tests.fakes._llamacpp`)."""
        self.chat_serial = 0
        """Chat requests received so far (a stream notices a newer one arriving)."""
        self.cap_replies = False
        """Cut each reply at the request's `max_tokens` as OpenAI does (`length`)."""
        self.served: list[dict[str, int]] = []
        """The usage of every chat reply sent, as billed: the server's own log of spend."""

    def start(self) -> None:
        """Bind the port and serve in a daemon thread.

        Raises:
            RuntimeError: If the server is already running.
        """
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer is already running")
        self._stopping.clear()
        self._httpd = FakeHTTPServer((_HOST, self._wanted_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"fake-openai-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close open connections."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> FakeOpenAIServer:
        """Start the server and return it."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (only while running)."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, ready for ``openai.OpenAI(base_url=...)``."""
        return f"http://{_HOST}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/chat/completions`` requests, in arrival order."""
        return [r for r in self.requests if r.method == "POST" and r.path == CHAT_PATH]

    @property
    def rejected_429(self) -> int:
        """How many requests the :meth:`enforce` budget has rejected with 429."""
        with self._lock:
            return self._rejected

    def rejected_429_by_model(self) -> dict[str, int]:
        """How many requests the :meth:`enforce` budgets have rejected, by model name."""
        with self._lock:
            return dict(self._rejected_by_model)

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server was answering at the same moment (a count of
        overlap, so concurrency tests need no clock)."""
        with self._lock:
            return self._peak_in_flight

    def _begin(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def enforce(
        self, rps: float | None = None, tpm: int | None = None, *, model: str | None = None
    ) -> None:
        """Enforce a rate budget; with no arguments, stop enforcing.

        Each model has its own budget, as with a real provider (a chat model's
        calls do not use up an embedding model's). Requests over ``rps``
        (sliding 1-second window, counted at arrival) or ``tpm`` (sliding
        60-second window of prompt estimate plus ``max_tokens``, or completion
        tokens when no limit is sent) get a 429 with ``Retry-After`` (seconds,
        possibly fractional) and ``retry-after-ms`` headers.

        With ``model``, the limits apply to that model only (a provider allows an
        embedding model more requests than a chat model); other models keep the
        general limits. Without it, the general limits are set and every
        model-specific one is dropped.

        Args:
            rps: Requests per second, or ``None`` for no request limit.
            tpm: Tokens per minute, or ``None`` for no token limit.
            model: The model these limits are for, or ``None`` for every model.
        """
        RateBudget().configure(rps, tpm)  # validates
        with self._lock:
            if model is None:
                self._limits = (rps, tpm)
                self._model_limits.clear()
            else:
                self._model_limits[model] = (rps, tpm)
            self._budgets.clear()

    def reset(self) -> None:
        """Return to a fresh state (the server keeps running).

        Clears recorded requests, queued faults, ``always``, ``latency``, the
        :meth:`enforce` budget and ``rejected_429``, and restores the default
        responder with its reply counter at zero.
        """
        with self._lock:
            self._requests.clear()
            self._rejected = 0
            self._rejected_by_model.clear()
            self._peak_in_flight = self._in_flight
        self.faults.clear()
        self.always = None
        self.latency = 0.0
        self.embeddings_latency = 0.0
        self.llama_cpp = None
        self.enforce()
        self._default_responder.reset()
        self.responder = self._default_responder

    def __repr__(self) -> str:
        """Describe the server and whether it is running."""
        where = self.base_url if self._httpd is not None else "stopped"
        return f"FakeOpenAIServer({where}, requests={len(self.requests)})"

    # Hooks for the request handler (tests.fakes._handler).
    def _arrive(
        self, method: str, path: str, headers: dict[str, str], body: Any, arrival: float
    ) -> Fault | None:
        """Record a request and return the fault it meets, if any."""
        kept = body if isinstance(body, dict) else None
        record = RecordedRequest(method, path, headers, kept, arrival)
        with self._lock:
            self._requests.append(record)
            if path == CHAT_PATH:
                self.chat_serial += 1
        fault = self.faults.pop()
        return fault if fault is not None else self.always

    def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return ``False`` if the server stopped meanwhile."""
        if seconds <= 0:
            return True
        return not self._stopping.wait(seconds)

    def _authorized(self, authorization: str | None) -> bool:
        """Check the ``Authorization`` header against :attr:`api_key`."""
        return self.api_key is None or authorization == f"Bearer {self.api_key}"

    def _budget(self, model: str) -> RateBudget:
        """The budget of ``model``, made on first use."""
        with self._lock:
            budget = self._budgets.get(model)
            if budget is None:
                budget = self._budgets[model] = RateBudget()
                budget.configure(*self._model_limits.get(model, self._limits))
            return budget

    def _admit(self, tokens: int, arrival: float | None = None, model: str = "") -> float | None:
        """Spend ``model``'s budget for a request that arrived at ``arrival``; return seconds
        to wait (counting a 429) or ``None``."""
        wait = self._budget(model).admit(tokens, arrival)
        if wait is not None:
            with self._lock:
                self._rejected += 1
                self._rejected_by_model[model] = self._rejected_by_model.get(model, 0) + 1
        return wait

    def _rate_headers(self, model: str = "") -> dict[str, str]:
        """The ``x-ratelimit-*`` headers for ``model``'s current budget."""
        return self._budget(model).headers(per_minute=self.rpm_headers)

    @property
    def connections_opened(self) -> int:
        """Client connections accepted since start (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._opened

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        """Remember (or forget) an open client connection."""
        with self._lock:
            if add:
                self._connections.add(connection)
                self._opened += 1
            else:
                self._connections.discard(connection)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake server until SIGTERM or SIGINT.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.openai_server",
        description="Serve a fake OpenAI-compatible API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument("--rps", type=float, default=None, help="enforce requests per second")
    parser.add_argument("--tpm", type=int, default=None, help="enforce tokens per minute")
    parser.add_argument(
        "--llama-cpp", action="store_true", help="behave like llama-cpp-python's server"
    )
    parser.add_argument(
        "--rpm-headers", action="store_true", help="report request limits per minute"
    )
    args = parser.parse_args(argv)

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    server = FakeOpenAIServer(args.api_key, port=args.port)
    server.latency = args.latency
    server.llama_cpp = LlamaCppQuirks() if args.llama_cpp else None
    server.rpm_headers = args.rpm_headers
    server.enforce(args.rps, args.tpm)
    with server:
        print(f"FAKE_OPENAI_BASE_URL={server.base_url}", flush=True)
        while not done.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
