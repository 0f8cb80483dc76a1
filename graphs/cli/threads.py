"""`copydesk threads` and `copydesk history`: list the threads, and one thread's checkpoints."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from copydesk.graphs.cli.common import (
    JsonFlag,
    execute,
    open_manager,
    out,
    require_existing_store,
    settings_from_flags,
)
from copydesk.memory.checkpoint import sqlite_path

__all__ = ["register"]


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
        status = row["status"]
        if status == "interrupted" and row["ended_by"]:  # stopped, or timed out: say which
            status += f" ({row['ended_by']})"
        out.print(
            f"{row['thread_id']}  {row['graph']:<12} {status:<14} "
            f"rounds={row['rounds']}  {row['topic'][:60]}",
            markup=False,
        )


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


def register(app: typer.Typer) -> None:
    """Add `copydesk threads` and `copydesk history` to `app`."""
    app.command()(threads)
    app.command()(history)
