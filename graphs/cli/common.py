"""What every `copydesk` command shares: consoles, settings from flags, one-line errors,
and following a conversation stream. New command modules import from here and expose
`register(app)`, which `copydesk.graphs.cli.app` calls."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from copydesk.graphs.cli.console import LiveView, configure_logging
from copydesk.graphs.errors import InputError, UnknownThreadError
from copydesk.graphs.events import Event, RunResult
from copydesk.graphs.transcript import shown_id
from copydesk.memory.checkpoint import sqlite_path
from copydesk.memory.errors import why_unwritable

if TYPE_CHECKING:  # loaded by the commands that need them, so `--help` starts fast
    from copydesk.agents.settings import Settings
    from copydesk.graphs.manager import ConversationManager

__all__ = [
    "JsonFlag",
    "MaxCostFlag",
    "ModelFlag",
    "announce_offline",
    "check_checkpoints",
    "err",
    "execute",
    "follow",
    "loading",
    "open_manager",
    "out",
    "require_existing_store",
    "require_new_file",
    "require_topology",
    "require_writable_home",
    "settings_from_flags",
]

T = TypeVar("T")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]
ModelFlag = Annotated[str | None, typer.Option("--model", help="Model name (COPYDESK_MODEL).")]
MaxCostFlag = Annotated[
    float | None,
    typer.Option(
        "--max-cost", min=0.0, help="USD the thread may spend; it ends `over_budget` after."
    ),
]


def settings_from_flags(**flags: Any) -> Settings:
    """Load settings with these flag values on top, and set up logging with secrets redacted."""
    from copydesk.agents.config import ConfigManager

    settings = ConfigManager(flags=flags).settings
    secret = settings.openai_api_key
    configure_logging(settings.log_level, [secret.get_secret_value()] if secret else [])
    return settings


def execute(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`. Its errors go to the command's error boundary (`copydesk.graphs.cli.boundary`),
    which ends a user-facing one with one line and its exit code.

    What the command has loaded by now (LangGraph, the client, pydantic's models) lives as
    long as the process: it is kept out of the garbage collector's sight during the run
    (`gc.freeze`), so the collections the run triggers walk only what the run allocates."""
    gc.freeze()
    try:
        return asyncio.run(work())
    except KeyboardInterrupt:
        err.print("copydesk: interrupted; the thread is saved, continue it with `copydesk resume`")
        raise typer.Exit(130) from None
    finally:
        gc.unfreeze()


@contextmanager
def loading() -> Iterator[None]:
    """While a command loads the modules of its run: no garbage collection. Imports make
    many objects that live as long as the process and few cycles, and each collection would
    walk them all again (about 0.3 s of CPU before a batch's first call)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def open_manager(settings: Settings) -> ConversationManager:
    """A conversation manager for a command, to use as `async with` (LangGraph loads here)."""
    from copydesk.graphs.manager import ConversationManager

    return ConversationManager(settings)


@asynccontextmanager
async def failed_run(thread_id: str, as_json: bool) -> AsyncIterator[None]:
    """A model failure during a run names the thread to resume, and with `--json` prints
    `{thread_id, status: "failed", error}` on stdout before the one error line."""
    from copydesk.agents.errors import ModelError

    try:
        yield
    except ModelError as error:
        if as_json:
            out.print_json(
                json.dumps({"thread_id": thread_id, "status": "failed", "error": str(error)})
            )
        failure = type(error)(
            f"{error} (thread {thread_id}; `copydesk resume {thread_id}` continues it)"
        )
        raise failure from None


LocalFlag = Annotated[
    bool,
    typer.Option(
        "--local",
        help="Write with a real small model on this machine: llama.cpp's server with Gemma 3 "
        "270M, started for the run (built once, 5-40 min; see `make demo-local`).",
    ),
]


@contextmanager
def local_model_for(settings: Settings) -> Iterator[Settings]:
    """`settings`, or with `--local` / COPYDESK_LOCAL pointed at a local server run meanwhile
    (stopped on the way out, also on Ctrl-C and errors); a setup failure (`LocalModelError`,
    exit 1) is one line from the error boundary."""
    from copydesk.agents.client.local_model import serving

    with serving(settings, lambda text: err.print(text, markup=False)) as ready:
        yield ready


def announce_offline(settings: Settings, quiet: bool) -> None:
    """Say once, on stderr, that the offline model is writing."""
    if settings.is_offline:
        err.print(
            "copydesk: [bold]offline[/] - no OPENAI_API_KEY or OPENAI_BASE_URL is set, so the "
            "deterministic offline model (copydesk-offline) is writing. Set OPENAI_API_KEY "
            "to use a real model, or run `make demo-local` (or `copydesk run ... --local`) for "
            "a small real model on this machine."
            if not quiet
            else "copydesk: offline model (copydesk-offline); set OPENAI_API_KEY for a real one"
        )


def require_writable_home(settings: Settings) -> None:
    """Fail before anything is written when COPYDESK_HOME is a file or cannot be written.

    A home that does not exist yet is fine if it can be created: its nearest existing
    folder must be writable.
    """
    home = settings.home
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "" if existing == home else f" ({existing} is a file)"
        raise InputError(
            f"COPYDESK_HOME={home} is not a folder{where}; point COPYDESK_HOME at a folder "
            "(it is created if missing)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"COPYDESK_HOME={home} is read-only ({existing} cannot be written); point "
            "COPYDESK_HOME at a folder you can write"
        )
    # What `os.access` cannot see (a read-only file system or an immutable file under the
    # home, which bind even root): each place a run writes is tried once.
    url = settings.resolved_checkpoint_url
    places = [existing, home / "memory", home / "memory" / "items.sqlite", home / "transcripts"]
    places += [home / "usage.jsonl", *([sqlite_path(url)] if url.startswith("sqlite:") else [])]
    for place in places:
        reason = why_unwritable(place) if place.exists() else None
        if reason:
            raise InputError(
                f"COPYDESK_HOME={home} cannot be written ({reason}); make it writable, or point "
                "COPYDESK_HOME at a folder you can write"
            )


async def check_checkpoints(settings: Settings) -> None:
    """Open and close the checkpoint store, if there is one yet (nothing is created): a
    damaged file or an unreachable server fails here, before a long-running command starts."""
    from copydesk.memory.checkpoint import open_checkpointer

    url = settings.resolved_checkpoint_url
    if url.startswith("memory:") or (url.startswith("sqlite:") and not sqlite_path(url).exists()):
        return
    async with open_checkpointer(url):
        pass


def require_topology(settings: Settings, graph: str) -> None:
    """Fail before anything is written when `graph` is unknown, or a `.py` file whose import
    or `build()` fails or gives no compiled graph: a file is built once here, with the run's
    agents and no checkpointer (an unopened client: no call, no file)."""
    from copydesk.graphs.registry import find

    topology = find(graph)
    if topology.path is None:
        return  # a shipped topology: a failure to build is a bug, found by the tests
    from copydesk.agents.client import OpenAIClient
    from copydesk.agents.team import Agents

    topology.build(agents=Agents.default(settings, client=OpenAIClient.from_settings(settings)))


def require_new_file(path: Path, flag: str = "-o") -> None:
    """Fail before any work when `path` cannot be a new file: a folder, or in a missing one."""
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; name a file in it, e.g. {path / 'out'}")
    if path.parent.exists() and not path.parent.is_dir():
        raise InputError(f"{flag} {path}: {path.parent} is a file, not a folder; fix the path")
    if not path.parent.is_dir():
        raise InputError(f"{flag} {path}: the folder {path.parent} does not exist; create it first")


def require_existing_store(settings: Settings, thread_id: str) -> None:
    """Fail before creating anything when the checkpoint database does not exist yet."""
    url = settings.resolved_checkpoint_url
    if url.startswith("sqlite:") and not sqlite_path(url).exists():
        raise UnknownThreadError(
            f"unknown thread {shown_id(thread_id)}: no checkpoints under {settings.home} yet"
        )


async def follow(
    stream: AsyncIterator[Event], as_json: bool, settings: Settings | None = None
) -> RunResult:
    """Show a conversation live (or stay quiet for --json), then print how it ended.

    With `settings`, the offline notice comes with the first event: after the thread's
    checkpoints were read, so a damaged or unreachable store is the only line on stderr.
    """
    view = LiveView(out)
    result: RunResult | None = None
    async for event in stream:
        if settings is not None:
            announce_offline(settings, as_json)
            settings = None
        if isinstance(event, RunResult):
            result = event
        elif not as_json:
            view.show(event)
    if result is None:
        raise RuntimeError("the conversation stream ended without a result")
    if as_json:
        out.print_json(json.dumps(result.as_json()))
    else:
        view.finish(result)
    return result
