"""The `copydesk` command: run, resume and inspect writing threads from a terminal.

Commands for one area live in their own module (`graphs/cli/<area>.py`) with a
`register(app)` function. `app` holds the everyday commands (run and resume, threads and
history, export, graphs); `build()` adds every other area's, and `main` runs the whole.
"""

from __future__ import annotations

import typer

from copydesk.graphs.cli import export, run, threads, topologies
from copydesk.graphs.cli.boundary import BoundaryGroup

__all__ = ["app", "build", "fewer_malloc_arenas", "main"]

_HELP = "Writer, editor and other agents that talk to each other to produce a piece of writing."


def _typer() -> typer.Typer:
    """A `copydesk` app inside the error boundary (`copydesk.graphs.cli.boundary`); its help is
    click's plain text (typer's rich help formatter costs ~0.3 s of imports per `--help`)."""
    return typer.Typer(
        cls=BoundaryGroup,
        rich_markup_mode=None,
        help=_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )


app = _typer()
"""The everyday commands, in the order `--help` lists them; `build()` adds every other
module's."""
run.register(app)
threads.register(app)
export.register(app)
topologies.register(app)


_COMMAND_MODULES: tuple[str, ...] = (
    "copydesk.graphs.cli.prompts",
    "copydesk.graphs.cli.memory",
    "copydesk.graphs.cli.usage",
    "copydesk.graphs.cli.batch",
    "copydesk.graphs.cli.fork",
    "copydesk.graphs.cli.serve",
    "copydesk.graphs.cli.queue",
    "copydesk.graphs.cli.eval",
    "copydesk.graphs.cli.traces",
)
"""Modules (`copydesk.graphs.cli.<area>`) whose `register(app)` adds their commands."""


def build() -> typer.Typer:
    """The whole `copydesk` command: `app`'s commands and every `_COMMAND_MODULES`
    module's, inside the error boundary (`copydesk.graphs.cli.boundary`)."""
    import importlib

    whole = _typer()
    whole.registered_commands = list(app.registered_commands)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(whole)
    return whole


def main() -> None:
    """Console-script entry point."""
    fewer_malloc_arenas()
    build()()


def fewer_malloc_arenas(arenas: int = 2) -> None:
    """Let glibc's malloc keep at most `arenas` arenas (unless `MALLOC_ARENA_MAX` says).

    By default each thread that allocates may get an arena of its own, up to eight per core,
    and each keeps its freed memory: a batch's store, checkpoint, transcript and usage work
    runs on the event loop's worker threads, so its peak RSS carried one fragmented arena per
    thread (1,000 conversations at once: 373 MiB peak, 347 MiB with two arenas, same run
    conditions). A no-op off glibc.
    """
    import os
    import sys

    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
