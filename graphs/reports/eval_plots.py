"""The eval page's plots, drawn on the server as SVG text (no script, no CDN).

`distribution(metric, report)` is a strip plot: a row per variant, a dot per run, the mean
as a bar and its 95 % interval as a line. `by_round(report)` is a line per variant of the
mean readability of the draft each round ended with. Every name in them (a variant, a
metric) is escaped; no model output is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["by_round", "distribution"]

_WIDTH, _LEFT, _RIGHT, _ROW = 560, 130, 20, 34
_COLOURS = ("#3949ab", "#e65100", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457")


def _stroke(colour: str, width: int) -> str:
    return f'stroke="{colour}" stroke-width="{width}"'


def _scale(low: float, high: float, width: float) -> Any:
    span = (high - low) or 1.0
    return lambda v: _LEFT + (v - low) / span * width


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 0.5
    return low - pad, high + pad


def distribution(metric: str, report: Mapping[str, Any]) -> str | None:
    """The strip plot of `metric` over every variant's runs (None when no run has it)."""
    from copydesk.graphs.reports.eval_report import run_value

    names = list(report["variants"])
    points = {
        n: [
            v
            for r in report["runs"]
            if r["variant"] == n and (v := run_value(r, metric)) is not None
        ]
        for n in names
    }
    values = [v for vs in points.values() for v in vs]
    if not values:
        return None
    for name in names:
        ci = report["variants"][name][metric]["ci"]
        values += list(ci or [])
    low, high = _bounds(values)
    x = _scale(low, high, _WIDTH - _LEFT - _RIGHT)
    height = _ROW * len(names) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{_WIDTH}" '
        f'height="{height}" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'data-metric="{escape(metric)}"><title>{escape(metric)} by variant</title>'
    ]
    for row, name in enumerate(names):
        y = 18 + row * _ROW
        colour = _COLOURS[row % len(_COLOURS)]
        parts.append(f'<text x="4" y="{y + 4}" class="label">{escape(name)}</text>')
        estimate = report["variants"][name][metric]
        if estimate["ci"] is not None:
            a, b = (x(v) for v in estimate["ci"])
            parts.append(
                f'<line x1="{a:.1f}" x2="{b:.1f}" y1="{y}" y2="{y}" {_stroke(colour, 2)}/>'
            )
            m = x(estimate["mean"])
            parts.append(
                f'<line x1="{m:.1f}" x2="{m:.1f}" y1="{y - 9}" y2="{y + 9}" {_stroke(colour, 3)}/>'
            )
        for n, v in enumerate(points[name]):
            jitter = (n % 5 - 2) * 2
            dot = f'cx="{x(v):.1f}" cy="{y + jitter}" r="3"'
            parts.append(f'<circle {dot} fill="{colour}" fill-opacity="0.5"/>')
    axis = height - 8
    parts.append(f'<text x="{_LEFT}" y="{axis}" class="tick">{low:.3g}</text>')
    parts.append(
        f'<text x="{_WIDTH - _RIGHT}" y="{axis}" class="tick" text-anchor="end">{high:.3g}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def by_round(report: Mapping[str, Any]) -> str | None:
    """Lines of mean readability by round, one per variant (None with no round)."""
    series = {n: {int(k): v for k, v in rounds.items()} for n, rounds in report["by_round"].items()}
    rounds = sorted({r for s in series.values() for r in s})
    values = [v for s in series.values() for v in s.values()]
    if not rounds:
        return None
    low, high = _bounds(values)
    height = 200
    x = _scale(rounds[0], rounds[-1] if len(rounds) > 1 else rounds[0] + 1, _WIDTH - _LEFT - _RIGHT)

    def y(v: float) -> float:
        return 20 + (high - v) / ((high - low) or 1.0) * (height - 50)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" data-metric="readability-by-round">'
        "<title>readability by round</title>"
    ]
    for row, (name, points) in enumerate(series.items()):
        colour = _COLOURS[row % len(_COLOURS)]
        path = " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in sorted(points.items()))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r, v in sorted(points.items()):
            parts.append(f'<circle cx="{x(r):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        parts.append(
            f'<text x="4" y="{30 + row * 16}" class="label" fill="{colour}">{escape(name)}</text>'
        )
    for r in rounds:
        where = f'x="{x(r):.1f}" y="{height - 8}"'
        parts.append(f'<text {where} class="tick" text-anchor="middle">round {r}</text>')
    parts.append(
        f'<text x="{_LEFT - 6}" y="{y(high):.1f}" class="tick" text-anchor="end">{high:.3g}</text>'
    )
    parts.append(
        f'<text x="{_LEFT - 6}" y="{y(low):.1f}" class="tick" text-anchor="end">{low:.3g}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
