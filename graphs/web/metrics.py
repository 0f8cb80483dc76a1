"""`/metrics`: the model calls' metrics as Prometheus text, behind the pages' guard.

`copydesk serve` answers it beside the pages, and `copydesk worker --metrics-port` on a small
server of its own (`serve_metrics`): calls, tokens, cost, retries, 429s and the limiter's wait
per agent and model, and each circuit breaker's state (`agents.telemetry.meters`), with
prometheus_client's process metrics. The same token as the pages (`COPYDESK_SERVE_TOKEN`) is
asked for; without one only loopback requests are answered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from copydesk.graphs.web.security import Guard

__all__ = ["MetricsServer", "metrics_route"]


def _prometheus_text() -> str:
    from prometheus_client import REGISTRY, generate_latest

    return generate_latest(REGISTRY).decode()


def metrics_route(token: str | None, ready: Callable[[], Awaitable[object]] | None = None) -> Route:
    """The guarded `/metrics` route; `ready` is awaited first (it opens what records them)."""

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        if ready is not None:
            await ready()
        text = await asyncio.to_thread(_prometheus_text)
        response = Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
        await response(scope, receive, send)

    guarded: ASGIApp = Guard(metrics, token=token)
    return Route("/metrics", guarded)


class MetricsServer:
    """`/metrics` on `host`:`port` in a thread of its own (a worker's pages-less server)."""

    def __init__(self, host: str, port: int, token: str | None) -> None:
        import uvicorn

        app = Starlette(routes=[metrics_route(token)])
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="copydesk-metrics")

    def start(self) -> MetricsServer:
        """Start serving (returns at once)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(timeout=10)
