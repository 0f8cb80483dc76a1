"""The `copydesk` command: run, resume and inspect writing threads from a terminal.

Commands for one area live in their own module (`graphs/cli/<area>.py`) with a
`register(app)` function; `main` registers them all.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from copydesk.graphs.cli.boundary import BoundaryGroup
from copydesk.graphs.cli.common import (
    JsonFlag,
    LocalFlag,
    MaxCostFlag,
    ModelFlag,
    err,
    execute,
    failed_run,
    follow,
    local_model_for,
    open_manager,
    out,
    require_existing_store,
    require_new_file,
    require_topology,
    require_writable_home,
    settings_from_flags,
)
from copydesk.graphs.cli.prompts import ExperimentFlag, PromptFlag, checked_prompt_flags
from copydesk.graphs.errors import InputError
from copydesk.graphs.events import RunResult
from copydesk.graphs.transcript import check_thread_id, make_thread_id
from copydesk.memory.checkpoint import sqlite_path

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = ["app", "build", "main"]

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
"""The commands defined in this module; `build()` adds every other module's."""


class ExportFormat(StrEnum):
    """Formats `copydesk export` writes."""

    md = "md"
    json = "json"
    docx = "docx"


_SUFFIX_FORMATS: dict[str, ExportFormat] = {
    ".md": ExportFormat.md,
    ".markdown": ExportFormat.md,
    ".json": ExportFormat.json,
    ".docx": ExportFormat.docx,
}
"""The format an `export -o` file's suffix names; any other suffix (or none) is Markdown."""


def _export_format(
    fmt: ExportFormat | None, output: Path | None, against: int | None
) -> ExportFormat:
    """The format `copydesk export` writes: `--format`, else the `-o` file's suffix, else md.

    Raises:
        InputError: `--format` contradicts the `-o` file's suffix, or `--against` is given
            for a format other than docx.
    """
    implied = _SUFFIX_FORMATS.get(output.suffix.lower()) if output is not None else None
    if fmt is not None and implied is not None and fmt is not implied:
        raise InputError(
            f"--format {fmt} contradicts -o {output}, whose suffix means {implied}; "
            f"pass --format {implied}, or leave --format out to follow the suffix"
        )
    chosen = fmt or implied or ExportFormat.md
    if against is not None and chosen is not ExportFormat.docx:
        raise InputError(
            f"--against applies to Word export only, not --format {chosen}; "
            "pass --format docx -o FILE.docx, or leave --against out"
        )
    return chosen


@app.command()
def run(
    graph: Annotated[
        str, typer.Argument(help="Topology name (see `copydesk graphs`) or .py path.")
    ],
    topic: Annotated[
        str, typer.Option("--topic", "-t", help="What to write about (new threads).")
    ] = "",
    thread_id: Annotated[
        str | None,
        typer.Option("--thread-id", help="Thread to start, or to continue with this graph."),
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", help="Drafts before giving up (default 3).")
    ] = None,
    review: Annotated[
        bool, typer.Option("--review", help="Pause for a human's approval (`copydesk resume`).")
    ] = False,
    token_budget: Annotated[
        int, typer.Option("--token-budget", help="End the run after this many tokens (0: none).")
    ] = 0,
    model: ModelFlag = None,
    prompt: PromptFlag = None,
    experiment: ExperimentFlag = None,
    as_json: JsonFlag = False,
    max_cost: MaxCostFlag = None,
    local: LocalFlag = False,
) -> None:
    """Start a conversation (or continue a thread) and stream it live; end with the draft."""
    settings = settings_from_flags(model=model, max_rounds=max_rounds, local=local or None)
    require_topology(settings, graph)
    if not topic.strip() and not _may_continue(settings, thread_id):
        err.print("copydesk: error: the topic is empty; pass --topic with what to write about")
        raise typer.Exit(2)
    from copydesk.graphs.run_values import check_run_flags  # pydantic and the state load here

    check_run_flags(topic=topic, token_budget=token_budget, max_cost=max_cost)
    if thread_id is not None:
        # Checked here, before the offline notice and before the checkpoint store is created.
        check_thread_id(thread_id)
    prompts = checked_prompt_flags(settings, prompt, experiment)  # before anything is written
    require_writable_home(settings)

    # Named up front, so a failure can say which thread to resume.
    thread = thread_id or make_thread_id()

    async def work() -> RunResult:
        async with open_manager(settings) as manager, failed_run(thread, as_json):
            stream = manager.stream(
                graph,
                topic=topic,
                thread_id=thread,
                max_rounds=settings.max_rounds,
                prompts=prompts,
                experiment=experiment,
                max_cost=max_cost,
                review=review,
                token_budget=token_budget,
            )
            return await follow(stream, as_json, settings)

    with local_model_for(settings) as settings:  # unchanged unless --local
        result = execute(work)
    if result.status == "failed":
        raise typer.Exit(1)


def _may_continue(settings: Settings, thread_id: str | None) -> bool:
    """A run without a topic may continue `thread_id` if a checkpoint store exists."""
    url = settings.resolved_checkpoint_url
    return thread_id is not None and not (
        url.startswith("sqlite:") and not sqlite_path(url).exists()
    )


@app.command()
def resume(
    thread_id: Annotated[str, typer.Argument(help="The thread to continue.")],
    approve: Annotated[
        bool, typer.Option("--approve", help="Accept the draft a paused review shows.")
    ] = False,
    feedback: Annotated[
        str | None, typer.Option("--feedback", help="Send a paused review back with this note.")
    ] = None,
    model: ModelFlag = None,
    as_json: JsonFlag = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the continuation to `copydesk worker`s.")
    ] = False,
) -> None:
    """Continue an interrupted thread, or answer a review it is waiting for."""
    settings = settings_from_flags(model=model)
    if approve and feedback is not None:
        err.print("copydesk: error: pass either --approve or --feedback, not both")
        raise typer.Exit(2)
    if feedback is not None and not feedback.strip():
        err.print('copydesk: error: the feedback is empty; pass --feedback "what to change"')
        raise typer.Exit(2)
    answer: dict[str, str] | None = None
    if approve:
        answer = {"action": "approve"}
    elif feedback is not None:
        answer = {"action": "feedback", "text": feedback.strip()}
    if queue:
        from copydesk.graphs.cli.queue import resume_queued

        resume_queued(settings, thread_id, answer, as_json)
        return
    require_existing_store(settings, thread_id)  # before the offline notice: one error line
    require_writable_home(settings)

    async def work() -> RunResult:
        async with open_manager(settings) as manager:
            return await follow(manager.stream_resume(thread_id, answer=answer), as_json, settings)

    execute(work)


@app.command()
def threads(as_json: JsonFlag = False) -> None:
    """List threads, most recently updated first."""
    settings = settings_from_flags()

    async def work() -> list[dict[str, Any]]:
        url = settings.resolved_checkpoint_url
        if url.startswith("sqlite:") and not sqlite_path(url).exists():
            return []
        from copydesk.graphs.threads import threads_at

        return [t.as_json() for t in await threads_at(url)]

    rows = execute(work)
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
    settings = settings_from_flags()

    async def work() -> list[dict[str, Any]]:
        require_existing_store(settings, thread_id)
        async with open_manager(settings) as manager:
            return [c.as_json() for c in await manager.history(thread_id)]

    rows = execute(work)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        prompts = ",".join(row["prompts"].values())
        if row.get("experiment"):
            prompts += f" {row['experiment']['name']}={row['experiment']['variant']}"
        out.print(
            f"{row['checkpoint_id']}  step={row['step']:<3} round={row['round']:<3} "
            f"node={row['node']:<10} next={','.join(row['next']) or '-':<8} {row['created_at']} "
            f"{prompts}",
            markup=False,
        )


@app.command()
def export(
    thread_id: Annotated[str, typer.Argument(help="The thread to export.")],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="md, json or docx (Word, needs -o); default: the -o file's suffix, else md.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    against: Annotated[
        int | None,
        typer.Option("--against", help="docx: track changes since this round (default: first)."),
    ] = None,
) -> None:
    """Export the final draft and its revision history (docx: with tracked changes and the
    open issues as comments)."""
    settings = settings_from_flags()
    fmt = _export_format(fmt, output, against)
    if fmt is ExportFormat.docx and output is None:
        err.print("copydesk: error: --format docx writes a file; pass -o FILE.docx")
        raise typer.Exit(2)
    if output is not None:
        require_new_file(output)

    async def work() -> str:
        require_existing_store(settings, thread_id)
        async with open_manager(settings) as manager:
            if fmt is ExportFormat.docx and output is not None:
                from copydesk.graphs.reports.docx_export import export_docx

                done = await export_docx(manager, thread_id, output, against=against)
                err.print(
                    f"wrote {output}: tracked changes since round {done.against_round} "
                    f"({done.insertions} inserted, {done.deletions} deleted), "
                    f"{done.comments} open issue(s) as comments",
                    markup=False,
                )
                return ""
            if fmt is ExportFormat.json:
                result = await manager.result(thread_id)
                lines = manager.transcript(thread_id).lines()
                return json.dumps({**result.as_json(), "transcript": lines}, indent=2)
            return await manager.export_markdown(thread_id)

    text = execute(work)
    if fmt is ExportFormat.docx:
        return
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@app.command("graphs")
def list_graphs(
    name: Annotated[
        str | None, typer.Argument(help="Show one topology (name or .py path).")
    ] = None,
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print the topology's diagram as Mermaid.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List the topologies you can run (name, nodes, description), or draw one."""
    from copydesk.graphs.registry import find, known

    topologies = [find(name)] if name else known()
    if mermaid:
        if name is None:
            err.print(
                "copydesk: error: --mermaid needs a graph name: copydesk graphs NAME --mermaid"
            )
            raise typer.Exit(2)
        sys.stdout.write(topologies[0].drawable().draw_mermaid())
        return
    rows = [
        {"name": t.name, "nodes": t.node_count(), "description": t.description} for t in topologies
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['name']:<14} {row['nodes']:>2} nodes  {row['description']}", markup=False)


_COMMAND_MODULES: tuple[str, ...] = (
    "copydesk.graphs.cli.prompts",
    "copydesk.graphs.cli.memory",
    "copydesk.graphs.cli.usage",
    "copydesk.graphs.cli.batch",
    "copydesk.graphs.cli.fork",
    "copydesk.graphs.cli.serve",
    "copydesk.graphs.cli.queue",
)
"""Modules (`copydesk.graphs.cli.<area>`) whose `register(app)` adds their commands."""


def build() -> typer.Typer:
    """The whole `copydesk` command: this module's commands and every `_COMMAND_MODULES`
    module's, inside the error boundary (`copydesk.graphs.cli.boundary`)."""
    import importlib

    whole = _typer()
    whole.registered_commands = list(app.registered_commands)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(whole)
    return whole


def main() -> None:
    """Console-script entry point."""
    build()()
