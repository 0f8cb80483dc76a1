"""`copydesk usage [THREAD]`: tokens and cost per thread, agent and model.

Every model call appends one line to `COPYDESK_HOME/usage.jsonl` (thread, agent, model,
tokens, seconds, attempts, USD); this command adds them up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer

from graphs.cli.common import JsonFlag, err, out, settings_from_flags

__all__ = ["register", "usage_report"]


def _blank() -> dict[str, Any]:
    return {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}


def usage_report(path: Path, thread_id: str | None = None) -> dict[str, Any]:
    """Totals from the usage log: overall, and per thread, agent and model."""
    report: dict[str, Any] = {
        "total": _blank(),
        "threads": defaultdict(_blank),
        "agents": defaultdict(_blank),
        "models": defaultdict(_blank),
    }
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        try:
            call = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write
        if thread_id is not None and call.get("thread_id") != thread_id:
            continue
        for bucket in (
            report["total"],
            report["threads"][call.get("thread_id") or "(none)"],
            report["agents"][call.get("agent", "?")],
            report["models"][call.get("model", "?")],
        ):
            bucket["calls"] += 1
            bucket["prompt_tokens"] += int(call.get("prompt_tokens", 0))
            bucket["completion_tokens"] += int(call.get("completion_tokens", 0))
            bucket["cost_usd"] = round(bucket["cost_usd"] + float(call.get("cost_usd", 0)), 8)
    return {
        key: dict(value) if isinstance(value, defaultdict) else value
        for key, value in report.items()
    }


def _line(name: str, row: dict[str, Any]) -> str:
    return (
        f"{name:<28} calls={row['calls']:<5} in={row['prompt_tokens']:<8} "
        f"out={row['completion_tokens']:<8} ${row['cost_usd']:.4f}"
    )


def usage(
    thread_id: Annotated[
        str | None, typer.Argument(help="Only this thread (default: every thread).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Tokens and cost per thread, agent and model (from COPYDESK_HOME/usage.jsonl)."""
    settings = settings_from_flags()
    report = usage_report(settings.home / "usage.jsonl", thread_id)
    if thread_id is not None and not report["total"]["calls"]:
        err.print(
            f"copydesk: error: no model calls recorded for thread {thread_id!r}; "
            "`copydesk usage` lists the threads that have some",
            markup=False,
        )
        raise typer.Exit(2)
    if as_json:
        out.print_json(json.dumps(report))
        return
    for section in ("threads", "agents", "models"):
        out.print(f"[bold]{section}[/]")
        for name, row in sorted(report[section].items()):
            out.print("  " + _line(name, row), markup=False)
    out.print(_line("total", report["total"]), markup=False)


def register(app: typer.Typer) -> None:
    """Add `usage` to the `copydesk` command."""
    app.command("usage")(usage)
