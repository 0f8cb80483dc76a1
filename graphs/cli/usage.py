"""`copydesk usage [THREAD]`: tokens and cost per thread, agent and model.

Every model call appends one line to `COPYDESK_HOME/usage.jsonl` (thread, agent, model,
tokens, seconds, attempts, USD); this command adds them up.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer

from copydesk.graphs.cli.common import JsonFlag, err, out, settings_from_flags

__all__ = ["register", "usage_report"]

_log = logging.getLogger("copydesk.usage")


def _blank() -> dict[str, Any]:
    return {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}


def _count(value: Any, *, whole: bool = True) -> bool:
    """`value` is a count (an int; with `whole` off, a float too), finite, not negative."""
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        return False
    return 0 <= float(value) < math.inf


def _call(raw: bytes) -> dict[str, Any] | None:
    """One line of the log as a call, or None for a line that is not one."""
    try:
        call = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8: cut by a crash mid-write, or damaged
        return None
    if not isinstance(call, dict):
        return None
    texts = (call.get("thread_id") or "", call.get("agent", "?"), call.get("model", "?"))
    if not all(isinstance(text, str) for text in texts):
        return None
    tokens = (call.get("prompt_tokens", 0), call.get("completion_tokens", 0))
    if not all(_count(n) for n in tokens) or not _count(call.get("cost_usd", 0), whole=False):
        return None
    return call


def usage_report(path: Path, thread_id: str | None = None) -> dict[str, Any]:
    """Totals from the usage log: overall, and per thread, agent and model.

    Lines that are not a call (cut by a crash mid-write, or damaged: not UTF-8 JSON, not an
    object, a count that is not a number) are left out, with one warning naming the file and
    how many: one bad line must not hide every call recorded around it.
    """
    report: dict[str, Any] = {
        "total": _blank(),
        "threads": defaultdict(_blank),
        "agents": defaultdict(_blank),
        "models": defaultdict(_blank),
    }
    lines = (
        [line for line in path.read_bytes().splitlines() if line.strip()] if path.exists() else []
    )
    skipped = 0
    for line in lines:
        call = _call(line)
        if call is None:
            skipped += 1
            continue
        if thread_id is not None and call.get("thread_id") != thread_id:
            continue
        for bucket in (
            report["total"],
            report["threads"][call.get("thread_id") or "(none)"],
            report["agents"][call.get("agent", "?")],
            report["models"][call.get("model", "?")],
        ):
            bucket["calls"] += 1
            bucket["prompt_tokens"] += call.get("prompt_tokens", 0)
            bucket["completion_tokens"] += call.get("completion_tokens", 0)
            bucket["cost_usd"] = round(bucket["cost_usd"] + float(call.get("cost_usd", 0)), 8)
    if skipped:
        _log.warning(
            "skipped %d damaged line%s of %s (not one JSON call each); the totals leave %s "
            "out (move the file aside to start a new log)",
            skipped,
            "" if skipped == 1 else "s",
            path,
            "it" if skipped == 1 else "them",
        )
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
