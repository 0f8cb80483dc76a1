"""The review web app: `create_app()` builds the Starlette application `copydesk serve` runs
and `langgraph.json` (`http.app`) mounts under `langgraph dev`.

Every page lives under `/desk/` (the LangGraph API owns `/threads`, `/runs`, ... when the app
is mounted beside it). The app opens one `ConversationManager` (the same checkpoint store and
settings as the CLI) on its first request and closes it on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from copydesk.agents.errors import CopydeskError
from copydesk.graphs.errors import UnknownThreadError
from copydesk.graphs.web.live import RunHub
from copydesk.graphs.web.metrics import metrics_route
from copydesk.graphs.web.render import Assets
from copydesk.graphs.web.security import CSRF_COOKIE, Guard, csrf_token
from copydesk.memory.errors import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings
    from copydesk.graphs.manager import ConversationManager

__all__ = ["PREFIX", "Runtime", "create_app", "page", "runtime"]

_log = logging.getLogger("copydesk.web")

PREFIX = "/desk"
TOKEN_VARIABLE = "COPYDESK_SERVE_TOKEN"


class Runtime:
    """What the handlers share: the manager (opened on first use), the runs, the templates."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._manager: ConversationManager | None = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self.hub = RunHub()
        self.assets = Assets()

    async def manager(self) -> ConversationManager:
        """The open manager.

        Everything that touches files (settings, the model client's secrets, the memory
        store, compiling the topologies with their prompt files) is done in a worker thread:
        under `langgraph dev` blockbuster turns any blocking call on the event loop into an
        error, and on `copydesk serve` it would stall every page.
        """
        async with self._lock:
            if self._manager is not None:
                return self._manager
            from copydesk.agents.client import OpenAIClient
            from copydesk.graphs.manager import ConversationManager
            from copydesk.memory.store import close_quietly, make_store_mended

            settings = self._settings
            if settings is None:
                settings = await asyncio.to_thread(_load_settings)
            from copydesk.agents.telemetry import Telemetry

            # Metrics for /metrics, traced or not; traces as the settings say.
            telemetry = await asyncio.to_thread(Telemetry.from_settings, settings, metrics=True)
            client = await asyncio.to_thread(
                OpenAIClient.from_settings, settings, telemetry=telemetry
            )
            self._stack.push_async_callback(client.aclose)
            store = None
            if settings.memory:
                from copydesk.agents.client.embeddings import embedder_for
                from copydesk.memory.embeddings import EmbedderMismatchError

                embedder = await asyncio.to_thread(embedder_for, settings, client)
                try:  # a damaged database is set aside (kept) and a fresh one opened
                    store = await asyncio.to_thread(make_store_mended, settings, embedder)
                except EmbedderMismatchError as error:  # pages and runs go on without memory
                    _log.warning("%s; the pages' runs go on without memory", error)
                if store is None:
                    settings = settings.model_copy(update={"memory": False})
                else:
                    self._stack.push_async_callback(asyncio.to_thread, close_quietly, store)
            opened = await self._stack.enter_async_context(
                ConversationManager(settings, client=client, store=store)
            )
            await asyncio.to_thread(_compile_all, opened)
            self._manager = opened
            return opened

    async def aclose(self) -> None:
        """Stop runs in progress and close the manager."""
        await self.hub.aclose()
        await self._stack.aclose()
        self._manager = None


def _compile_all(manager: ConversationManager) -> None:
    from copydesk.graphs.registry import known

    for topology in known():
        manager.graph(topology.name)


def _load_settings() -> Settings:
    from copydesk.agents.config import ConfigManager

    return ConfigManager().settings


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving `request`."""
    found: Runtime = request.app.state.runtime
    return found


async def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template `name`; every page carries this browser's CSRF token for its forms."""
    token, fresh = csrf_token(request)
    html = await runtime(request).assets.render(
        name, request=request, csrf=token, prefix=PREFIX, **context
    )
    response = HTMLResponse(html, status_code=status_code)
    if fresh:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path=PREFIX)
    return response


async def _static(request: Request) -> Response:
    found = await runtime(request).assets.static(request.path_params["name"])
    if found is None:
        raise HTTPException(404, "no such file")
    body, media_type = found
    return Response(body, media_type=media_type, headers={"cache-control": "no-cache"})


async def _not_found(request: Request, exc: Exception) -> Response:
    detail = getattr(exc, "detail", None) or str(exc) or "not found"
    return await page(request, "error.html", status_code=404, title="Not found", message=detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await _not_found(request, exc)
    title = {400: "Bad request", 403: "Refused", 409: "Not now"}.get(exc.status_code, "Error")
    return await page(
        request, "error.html", status_code=exc.status_code, title=title, message=str(exc.detail)
    )


async def _input_error(request: Request, exc: Exception) -> Response:
    return await page(request, "error.html", status_code=400, title="Bad request", message=str(exc))


async def _store_error(request: Request, exc: Exception) -> Response:
    """A damaged checkpoint or memory database (500), or its server down (503): the page
    names it and the fix, as the command line does."""
    down = isinstance(exc, StoreUnavailableError)
    title = "Storage unreachable" if down else "Storage damaged"
    return await page(
        request, "error.html", status_code=503 if down else 500, title=title, message=str(exc)
    )


def create_app(
    settings: Settings | None = None, *, token: str | None = None, root_redirect: bool = True
) -> Starlette:
    """The review app.

    Args:
        settings: The settings to open the manager with (read from the environment, `.env`
            and `copydesk.toml` on first request when None).
        token: Required on every request when set (default: the environment's
            `COPYDESK_SERVE_TOKEN`); without one only loopback requests are served.
        root_redirect: Answer `/` with a redirect to the thread list, and `/metrics` with the
            Prometheus metrics (off when mounted beside another app that owns `/`).
    """
    from copydesk.graphs.web import actions, evals, pages

    # The pages are one app (with its guard and error pages) mounted at PREFIX inside an
    # outer app that has neither: LangGraph Server merges the outer app's middleware and
    # exception handlers into its own, and they must not reach the LangGraph API's routes.
    pages_app = Starlette(
        routes=[
            Route("/", pages.threads_page),
            Route("/new", pages.new_page, methods=["GET"]),
            Route("/new", actions.start, methods=["POST"]),
            Route("/t/{thread_id}", pages.thread_page),
            Route("/t/{thread_id}/c/{checkpoint_id}", pages.checkpoint_page),
            Route("/t/{thread_id}/events", actions.events),
            Route("/t/{thread_id}/review", actions.review, methods=["POST"]),
            Route("/t/{thread_id}/resume", actions.resume, methods=["POST"]),
            Route("/t/{thread_id}/stop", actions.stop, methods=["POST"]),
            Route("/t/{thread_id}/fork", actions.fork, methods=["POST"]),
            Route("/evals", evals.evals_page),
            Route("/evals/{eval_id}", evals.eval_page),
            Route("/static/{name}", _static),
        ],
        exception_handlers={
            HTTPException: _http_error,
            UnknownThreadError: _not_found,
            CopydeskError: _input_error,
            StoreError: _store_error,
        },
    )
    state = Runtime(settings)
    pages_app.state.runtime = state
    guard_token = token if token is not None else os.environ.get(TOKEN_VARIABLE)
    pages_app.add_middleware(Guard, token=guard_token)
    routes: list[BaseRoute] = [Mount(PREFIX, app=pages_app)]
    if root_redirect:  # `copydesk serve`, not mounted under LangGraph Server
        routes.append(Route("/", lambda request: RedirectResponse(f"{PREFIX}/", 303)))
        routes.append(metrics_route(guard_token, state.manager))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = state
    return app
