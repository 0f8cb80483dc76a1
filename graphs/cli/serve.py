"""`copydesk serve`: the review pages in a browser (see `copydesk.graphs.web`)."""

from __future__ import annotations

import errno
import os
import socket
from typing import Annotated

import typer

from copydesk.agents.errors import CopydeskError
from copydesk.graphs.cli.common import (
    ModelFlag,
    announce_offline,
    check_checkpoints,
    err,
    execute,
    settings_from_flags,
)

__all__ = ["ServeError", "register", "serve_token"]


class ServeError(CopydeskError):
    """`copydesk serve` cannot start as asked."""

    exit_code = 2


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; not loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8321,
    model: ModelFlag = None,
) -> None:
    """Serve the review pages: threads, redlines, issues, review, live runs and forks.

    Binds 127.0.0.1 by default. Any other address needs COPYDESK_SERVE_TOKEN: every request
    must then carry it (`/desk/?token=...` once in a browser, or `Authorization: Bearer`).
    """
    settings = settings_from_flags(model=model)
    token = serve_token(host, "--host")
    execute(lambda: check_checkpoints(settings))  # a damaged or unreachable store: one line
    listening = _bind(host, port)  # before saying where: a taken port is one line, exit 2
    import uvicorn

    from copydesk.graphs.web import PREFIX, create_app

    announce_offline(settings, quiet=True)
    shown = f"[{host}]" if ":" in host else host
    suffix = "?token=$COPYDESK_SERVE_TOKEN" if token else ""
    err.print(
        f"copydesk serve: http://{shown}:{port}{PREFIX}/{suffix} (Ctrl-C stops)", markup=False
    )
    config = uvicorn.Config(
        create_app(settings, token=token or ""),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    with listening:
        uvicorn.Server(config).run(sockets=[listening])


def serve_token(host: str, flag: str) -> str | None:
    """`COPYDESK_SERVE_TOKEN`, which any `host` but loopback needs (None: loopback only).

    Raises:
        ServeError: Another address without a token, or a token too short.
    """
    from copydesk.graphs.web.security import is_loopback

    token = os.environ.get("COPYDESK_SERVE_TOKEN", "").strip() or None
    if not is_loopback(host) and token is None:
        raise ServeError(
            f"{flag} {host} serves other machines; set COPYDESK_SERVE_TOKEN to a long "
            "random secret first (requests without it get 401), or bind 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise ServeError("COPYDESK_SERVE_TOKEN is too short; use 16 characters or more")
    return token


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (uvicorn would log a bind failure and exit 1 or 3
    after the address was announced).

    Raises:
        ServeError: The port is taken, or the address is not this machine's.
    """
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
        return listening
    except OSError as error:
        listening.close()
        why = error.strerror or str(error)
        fix = "pick another --port" if error.errno == errno.EADDRINUSE else "check --host"
        raise ServeError(f"cannot serve on {host}:{port}: {why.lower()}; {fix}") from None


def register(app: typer.Typer) -> None:
    """Add `copydesk serve` to `app`."""
    app.command("serve")(serve)
