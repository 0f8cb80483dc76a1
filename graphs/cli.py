"""The `copydesk` command: run, resume and inspect writing threads from a terminal."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from agents.config import ConfigManager, Settings
from agents.errors import CopydeskError
from graphs._console import LiveView, configure_logging
from graphs.events import Event, RunResult
from graphs.manager import ConversationManager, UnknownThreadError
from graphs.registry import find, known
from graphs.transcript import THREAD_ID_PATTERN
from memory.checkpoint import sqlite_path

__all__ = ["app", "main"]

T = TypeVar("T")
app = typer.Typer(
    help="Writer, editor and other agents that talk to each other to produce a piece of writing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]
ModelFlag = Annotated[str | None, typer.Option("--model", help="Model name (COPYDESK_MODEL).")]


class ExportFormat(StrEnum):
    """Formats `copydesk export` writes."""

    md = "md"
    json = "json"


def _settings(**flags: Any) -> Settings:
    settings = ConfigManager(flags=flags).settings
    secret = settings.openai_api_key
    configure_logging(settings.log_level, [secret.get_secret_value()] if secret else [])
    return settings


def _execute(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; a user-facing error becomes one line on stderr and its exit code."""
    try:
        return asyncio.run(work())
    except CopydeskError as error:
        err.print(f"copydesk: error: {error}", markup=False)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err.print("copydesk: interrupted; the thread is saved, continue it with `copydesk resume`")
        raise typer.Exit(130) from None


def _announce_offline(settings: Settings, quiet: bool) -> None:
    if settings.is_offline:
        err.print(
            "copydesk: [bold]offline[/] - no OPENAI_API_KEY or OPENAI_BASE_URL is set, so the "
            "deterministic offline model (copydesk-offline) is writing. Set OPENAI_API_KEY "
            "to use a real model."
            if not quiet
            else "copydesk: offline model (copydesk-offline); set OPENAI_API_KEY for a real one"
        )


def _require_existing_store(settings: Settings, thread_id: str) -> None:
    """Fail before creating anything when the checkpoint database does not exist yet."""
    url = settings.resolved_checkpoint_url
    if url.startswith("sqlite:") and not sqlite_path(url).exists():
        raise UnknownThreadError(
            f"unknown thread {thread_id!r}: no checkpoints under {settings.home} yet"
        )


def _show(result: RunResult, events: list[Event] | None, as_json: bool, view: LiveView) -> None:
    if as_json:
        out.print_json(json.dumps(result.as_json()))
    else:
        view.finish(result)


async def _follow(stream: Any, as_json: bool) -> RunResult:
    view = LiveView(out)
    result: RunResult | None = None
    async for event in stream:
        if isinstance(event, RunResult):
            result = event
        elif not as_json:
            view.show(event)
    assert result is not None  # the manager always ends a stream with a result
    _show(result, None, as_json, view)
    return result


@app.command()
def run(
    graph: Annotated[
        str, typer.Argument(help="Topology name (see `copydesk graphs`) or .py path.")
    ],
    topic: Annotated[str, typer.Option("--topic", "-t", help="What to write about.")] = "",
    thread_id: Annotated[
        str | None, typer.Option("--thread-id", help="Id for the new thread (default: generated).")
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", help="Drafts before giving up (default 3).")
    ] = None,
    model: ModelFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a conversation and stream it live; end with the final draft."""
    settings = _settings(model=model, max_rounds=max_rounds)
    find(graph) if not graph.endswith(".py") else None
    if not topic.strip():
        err.print("copydesk: error: the topic is empty; pass --topic with what to write about")
        raise typer.Exit(2)
    if thread_id is not None and not THREAD_ID_PATTERN.match(thread_id):
        # Checked here, before the offline notice and before the checkpoint store is created.
        err.print(
            f"copydesk: error: invalid thread id {thread_id!r}; use letters, digits, '.', '_' "
            "or '-'",
            markup=False,
        )
        raise typer.Exit(2)

    async def work() -> RunResult:
        find(graph)
        async with ConversationManager(settings) as manager:
            stream = manager.stream(
                graph, topic=topic, thread_id=thread_id, max_rounds=settings.max_rounds
            )
            return await _follow(stream, as_json)

    _announce_offline(settings, as_json)
    result = _execute(work)
    if result.status == "failed":
        raise typer.Exit(1)


@app.command()
def resume(
    thread_id: Annotated[str, typer.Argument(help="The thread to continue.")],
    model: ModelFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Continue an interrupted thread from its last checkpoint."""
    settings = _settings(model=model)
    _require_existing_store(settings, thread_id)  # before the offline notice: one error line

    async def work() -> RunResult:
        async with ConversationManager(settings) as manager:
            return await _follow(manager.stream_resume(thread_id), as_json)

    _announce_offline(settings, as_json)
    _execute(work)


@app.command()
def threads(as_json: JsonFlag = False) -> None:
    """List threads, most recently updated first."""
    settings = _settings()

    async def work() -> list[dict[str, Any]]:
        url = settings.resolved_checkpoint_url
        if url.startswith("sqlite:") and not sqlite_path(url).exists():
            return []
        async with ConversationManager(settings) as manager:
            return [t.as_json() for t in await manager.threads()]

    rows = _execute(work)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print('no threads yet; start one with: copydesk run turn_taking --topic "..."')
    for row in rows:
        out.print(
            f"{row['thread_id']}  {row['graph']:<12} {row['status']:<14} "
            f"rounds={row['rounds']}  {row['topic'][:60]}",
            markup=False,
        )


@app.command()
def history(
    thread_id: Annotated[str, typer.Argument(help="The thread to inspect.")],
    as_json: JsonFlag = False,
) -> None:
    """List a thread's checkpoints, newest first (id, step, round, node, time)."""
    settings = _settings()

    async def work() -> list[dict[str, Any]]:
        _require_existing_store(settings, thread_id)
        async with ConversationManager(settings) as manager:
            return [c.as_json() for c in await manager.history(thread_id)]

    rows = _execute(work)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        prompts = ",".join(row["prompts"].values())
        out.print(
            f"{row['checkpoint_id']}  step={row['step']:<3} round={row['round']:<3} "
            f"node={row['node']:<10} next={','.join(row['next']) or '-':<8} {row['created_at']} "
            f"{prompts}",
            markup=False,
        )


@app.command()
def export(
    thread_id: Annotated[str, typer.Argument(help="The thread to export.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="md or json.")] = ExportFormat.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Export the final draft and its revision history."""
    settings = _settings()

    async def work() -> str:
        _require_existing_store(settings, thread_id)
        async with ConversationManager(settings) as manager:
            if fmt is ExportFormat.json:
                result = await manager.result(thread_id)
                lines = manager.transcript(thread_id).lines()
                return json.dumps({**result.as_json(), "transcript": lines}, indent=2)
            return await manager.export_markdown(thread_id)

    text = _execute(work)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@app.command("graphs")
def list_graphs(as_json: JsonFlag = False) -> None:
    """List the topologies you can run."""
    rows = [{"name": t.name, "description": t.description} for t in known()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['name']:<14} {row['description']}", markup=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except CopydeskError as error:  # raised while parsing settings, before any work
        err.print(f"copydesk: error: {error}", markup=False)
        sys.exit(error.exit_code)
