"""The eval pages: the evaluations saved under `COPYDESK_HOME/evals/`, and one of them with
its table and plots (per-metric distributions per variant, readability by round), drawn on
the server as SVG (`reports.eval_plots`)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from copydesk.graphs.web.app import page, runtime

__all__ = ["eval_page", "evals_page"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _saved(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a file being written, or not a report: not listed
        rows.append(
            {
                "id": path.stem,
                "suite": report.get("suite", ""),
                "variants": list(report.get("variants") or {}),
                "runs": len(report.get("runs") or []),
            }
        )
    return rows


async def evals_page(request: Request) -> Response:
    """Every saved evaluation, newest first."""
    manager = await runtime(request).manager()
    rows = await asyncio.to_thread(_saved, manager.settings.home / "evals")
    return await page(request, "evals.html", rows=rows)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found


async def eval_page(request: Request) -> Response:
    """One evaluation: its table, its winners and its plots."""
    from copydesk.graphs.reports.eval_plots import by_round, distribution
    from copydesk.graphs.reports.eval_report import table_rows

    eval_id = request.path_params["eval_id"]
    if not _ID.fullmatch(eval_id):
        raise HTTPException(404, f"no evaluation {eval_id[:40]!r}")
    manager = await runtime(request).manager()
    report = await asyncio.to_thread(_load, manager.settings.home / "evals" / f"{eval_id}.json")
    if report is None:
        raise HTTPException(404, f"no evaluation {eval_id}; run `copydesk eval SUITE` first")
    plots = []
    for metric in report["comparison"]:
        svg = distribution(metric, report)
        if svg is not None:
            plots.append({"metric": metric, "svg": Markup(svg)})  # built escaped, no model text
    rounds = by_round(report)
    return await page(
        request,
        "eval.html",
        report=report,
        names=list(report["variants"]),
        rows=table_rows(report),
        plots=plots,
        rounds=Markup(rounds) if rounds else None,
    )
