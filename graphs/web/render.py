"""Templates and the pieces they draw: redlines, highlighted quotes, times, money.

Templates are Jinja2 with autoescaping on for every template, and no filter in them marks a
value safe: whatever a model wrote reaches the page as text. The templates and the two static
files are read once, off the event loop, on the first request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined

from copydesk.graphs.reports.issue_tracking import TrackedIssue, find_quote

__all__ = ["Assets", "Highlight", "highlight", "when"]

HERE = Path(__file__).parent
STATIC_TYPES = {"app.js": "text/javascript", "style.css": "text/css"}


@dataclass(frozen=True)
class Highlight:
    """A stretch of a draft, marked with the number of the issue quoting it (or not)."""

    text: str
    issue: int | None = None
    severity: str = ""


def highlight(text: str, issues: list[TrackedIssue]) -> list[Highlight]:
    """Split `text` so each issue's quoted passage is its own marked stretch (numbered from 1
    in the order given); overlapping quotes keep the first."""
    spans: list[tuple[int, int, int, str]] = []
    for number, issue in enumerate(issues, 1):
        found = find_quote(text, issue.quote)
        if found and all(found[1] <= s or found[0] >= e for s, e, _, _ in spans):
            spans.append((*found, number, issue.severity))
    out, at = [], 0
    for start, end, number, severity in sorted(spans):
        if start > at:
            out.append(Highlight(text[at:start]))
        out.append(Highlight(text[start:end], number, severity))
        at = end
    if at < len(text):
        out.append(Highlight(text[at:]))
    return out


def when(iso: str) -> str:
    """`2026-12-02T11:32:58.29+00:00` -> `2026-12-02 11:32:58 UTC`."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.utcoffset() else "")


class Assets:
    """The templates and static files, loaded on first use."""

    def __init__(self) -> None:
        self._environment: Environment | None = None
        self._static: dict[str, bytes] = {}
        self._lock = asyncio.Lock()

    async def _load(self) -> Environment:
        async with self._lock:
            if self._environment is None:
                loaded = await asyncio.to_thread(_read)
                self._environment, self._static = loaded
                return loaded[0]
            return self._environment

    async def render(self, name: str, **context: Any) -> str:
        """The page `name` (a file in `templates/`) with `context`."""
        environment = await self._load()
        return environment.get_template(name).render(**context)

    async def static(self, name: str) -> tuple[bytes, str] | None:
        """A static file's bytes and media type; None when there is no such file."""
        await self._load()
        if name not in self._static:
            return None
        return self._static[name], STATIC_TYPES[name]


def _read() -> tuple[Environment, dict[str, bytes]]:
    templates = {
        path.name: path.read_text(encoding="utf-8") for path in (HERE / "templates").glob("*.html")
    }
    environment = Environment(
        loader=DictLoader(templates),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    static = {name: (HERE / "static" / name).read_bytes() for name in STATIC_TYPES}
    return environment, static
