"""`copydesk run-many FILE --graph NAME`: one conversation per line of FILE, many at once.

Conversations share one manager, one client and so one rate limiter; the HTTP connection
pool is sized to the concurrency (a pool far larger than the concurrency made throughput
worse). A conversation whose model calls fail for good is reported `failed` and stays
saved, so `copydesk resume THREAD` continues it later; the others go on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from copydesk.errors import CopydeskError
from copydesk.graphs.cli.common import (
    JsonFlag,
    MaxCostFlag,
    ModelFlag,
    announce_offline,
    err,
    execute,
    loading,
    open_manager,
    out,
    require_topology,
    require_writable_home,
    settings_from_flags,
)
from copydesk.graphs.cli.run import TimeoutFlag, UntilFlag, checked_endings
from copydesk.graphs.errors import InputError
from copydesk.graphs.transcript import make_thread_id
from copydesk.memory.errors import StoreError
from copydesk.prompts.errors import PromptError

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = ["register", "run_batch"]


async def run_batch(
    settings: Settings,
    graph: str,
    topics: list[str],
    *,
    concurrency: int,
    max_cost: float | None = None,
    progress: Progress | None = None,
    opened: Callable[[], None] | None = None,
    until: str = "",
    time_limit: float | None = None,
) -> list[dict[str, Any]]:
    """Run one conversation per topic, `concurrency` at a time; one result row per topic.

    `opened` is called once the checkpoints and the memory store are open. `until` and
    `time_limit` apply to each conversation, as `run --until` and `--timeout` do; `copydesk
    stop THREAD` stops one conversation, the others go on.
    """
    gate = asyncio.Semaphore(concurrency)
    rows: list[dict[str, Any]] = [{} for _ in topics]
    async with open_manager(settings) as manager:
        if opened is not None:
            opened()
        task = progress.add_task("conversations", total=len(topics)) if progress else None

        async def one(index: int, topic: str) -> None:
            thread_id = f"{make_thread_id()}-{index}"
            async with gate:
                try:
                    result = await manager.run(
                        graph,
                        topic=topic,
                        thread_id=thread_id,
                        max_rounds=settings.max_rounds,
                        max_cost=max_cost,
                        until=until,
                        time_limit=time_limit,
                    )
                    rows[index] = {
                        "topic": topic,
                        "thread_id": thread_id,
                        "status": result.status,
                        "ended_by": result.ended_by,
                        "final_draft": result.final_draft,
                        "usage": result.usage.get("total", {}),
                    }
                except (StoreError, PromptError):
                    raise  # the same for every line: the command ends with it
                except CopydeskError as error:
                    rows[index] = {
                        "topic": topic,
                        "thread_id": thread_id,
                        "status": "failed",
                        "final_draft": "",
                        "usage": {},
                        "error": str(error),
                    }
            if progress is not None and task is not None:
                progress.advance(task)

        await asyncio.gather(*(one(i, topic) for i, topic in enumerate(topics)))
        from copydesk.graphs.settle import settle  # LangGraph's store: not at `--help` time

        await settle(manager.store)  # the batch's memories searchable when it reports done
    return rows


def _checked_topics(file: Path, text: str) -> list[str]:
    """The topics of `text`, one per non-blank line, each checked by `run --topic`'s rule.

    Raises:
        InputError: No topic, or a line out of the rule (named by its line number).
    """
    from copydesk.graphs.run_values import check_value

    numbered = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not numbered:
        raise InputError(f"{file} has no topics; write one topic per line")
    for number, topic in numbered:
        try:
            check_value("topic", topic, named=f"{file} line {number}")
        except InputError as error:
            raise InputError(f"{error}; fix that line (one topic per line)") from None
    return [topic for _, topic in numbered]


def run_many(
    file: Annotated[Path, typer.Argument(help="Topics, one per line (blank lines skipped).")],
    graph: Annotated[str, typer.Option("--graph", "-g", help="Topology name (copydesk graphs).")],
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=10000, help="Conversations at once.")
    ] = 8,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", help="Drafts before giving up (default 3).")
    ] = None,
    max_cost: MaxCostFlag = None,
    model: ModelFlag = None,
    as_json: JsonFlag = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the threads to `copydesk worker` processes.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="With --queue: print the thread ids and return.")
    ] = False,
    until: UntilFlag = "",
    timeout: TimeoutFlag = None,
) -> None:
    """Run one conversation per line of FILE, CONCURRENCY at a time, with a progress bar."""
    settings = settings_from_flags(model=model, max_rounds=max_rounds, max_connections=concurrency)
    with loading():
        from copydesk.graphs.run_values import check_run_flags

        require_topology(settings, graph)
        check_run_flags(max_cost=max_cost)
    time_limit = checked_endings(until, timeout)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        err.print(f"copydesk: error: cannot read {file}: {error}; pass a text file", markup=False)
        raise typer.Exit(2) from None
    topics = _checked_topics(file, text)
    if no_wait and not queue:
        err.print("copydesk: error: --no-wait needs --queue", markup=False)
        raise typer.Exit(2)
    if not queue:
        require_writable_home(settings)
    if queue:
        from copydesk.graphs.cli.queue import run_many_queued

        run_many_queued(
            settings,
            graph,
            topics,
            max_cost=max_cost,
            wait=not no_wait,
            as_json=as_json,
            until=until,
            time_limit=time_limit,
        )
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
        # Nobody watches a bar on a pipe or a file: no refresh thread redrawing it ten times a
        # second for the whole batch.
        disable=not err.is_terminal,
    )

    async def work() -> list[dict[str, Any]]:
        with progress:
            return await run_batch(
                settings,
                graph,
                topics,
                concurrency=concurrency,
                max_cost=max_cost,
                progress=progress,
                opened=lambda: announce_offline(settings, as_json),
                until=until,
                time_limit=time_limit,
            )

    rows = execute(work)
    if as_json:
        out.print_json(json.dumps(rows))
    else:
        for row in rows:
            cost = row["usage"].get("cost_usd", 0.0)
            out.print(
                f"{row['thread_id']}  {row['status']:<13} ${cost:.4f}  {row['topic'][:60]}",
                markup=False,
            )
            if "error" in row:
                out.print(f"  {row['error']}", markup=False)
    if any(row["status"] == "failed" for row in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `run-many` to the `copydesk` command."""
    app.command("run-many")(run_many)
