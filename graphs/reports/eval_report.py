"""The report of an evaluation: each variant's metrics with intervals, the comparison of the
variants, tokens and cost, the judge's spread, and the table people read.

`eval_report(suite_name, runs)` is a plain JSON-able dict (what `copydesk eval --json` prints
and the eval page draws): `variants` maps each variant's name to its metrics, each
`{mean, ci, n}`; `comparison` maps each metric to its `winner` (or None) and the paired
comparisons behind it; `by_round` is the mean readability of the draft each round ended
with, per variant; `judge_spread` is how far the judge's mean score ranged over identical
drafts (repeats that wrote the same text), its own noise.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from copydesk.graphs.reports.eval_stats import bootstrap_ci, compare

if TYPE_CHECKING:
    from copydesk.graphs.eval_run import RunRecord

__all__ = ["METRICS", "eval_report", "run_value", "table_rows"]

METRICS = (
    "issues_addressed",
    "regression_rate",
    "approved_removed",
    "readability",
    "grade_level",
    "length_error",
    "repeated_ngrams",
    "citation_validity",
    "judge",
)
"""Every metric a report has, in the order the table shows them."""


def _value(run: RunRecord, metric: str) -> float | None:
    if metric == "judge":
        return run.judge.mean if run.judge is not None else None
    if metric.startswith("judge."):
        return None if run.judge is None else run.judge.scores.get(metric[6:])
    value = getattr(run.scores, metric)
    return None if value is None else float(value)


def run_value(run: Mapping[str, Any], metric: str) -> float | None:
    """`metric` of one run as the report keeps it (`runs[i]`)."""
    judge = run.get("judge") or {}
    if metric == "judge":
        return judge.get("mean")
    if metric.startswith("judge."):
        return (judge.get("scores") or {}).get(metric[6:])
    value = run["scores"].get(metric)
    return None if value is None else float(value)


def eval_report(suite: str, runs: Sequence[RunRecord]) -> dict[str, Any]:
    """The report of `runs`, all of one suite."""
    names = list(dict.fromkeys(r.variant for r in runs))
    criteria = sorted({c for r in runs if r.judge is not None for c in r.judge.scores})
    metrics = [*METRICS, *(f"judge.{c}" for c in criteria)]
    by_variant = {n: [r for r in runs if r.variant == n] for n in names}
    variants: dict[str, Any] = {}
    for name, mine in by_variant.items():
        summary: dict[str, Any] = {}
        for metric in metrics:
            values = [v for r in mine if (v := _value(r, metric)) is not None]
            summary[metric] = bootstrap_ci(values).as_json()
        summary["tokens"] = sum(r.tokens for r in mine)
        summary["cost_usd"] = round(sum(r.cost_usd for r in mine), 6)
        summary["runs"] = len(mine)
        summary["unjudged"] = sum(r.judge is None or not r.judge.scores for r in mine)
        summary["statuses"] = dict(sorted(_count(r.status for r in mine).items()))
        variants[name] = summary
    comparison: dict[str, Any] = {}
    for metric in metrics:
        keyed = {n: {r.key: _value(r, metric) for r in by_variant[n]} for n in names}
        winner, pairs = compare(metric, keyed)
        comparison[metric] = {"winner": winner, "pairs": [p.as_json() for p in pairs]}
    return {
        "suite": suite,
        "variants": variants,
        "comparison": comparison,
        "by_round": {n: _by_round(by_variant[n]) for n in names},
        "judge_spread": _judge_spread(runs),
        "runs": [r.as_json() for r in runs],
    }


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def _by_round(runs: Sequence[RunRecord]) -> dict[str, float]:
    rounds: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        for round_, value in run.scores.by_round.items():
            rounds[round_].append(value)
    return {str(k): round(sum(v) / len(v), 2) for k, v in sorted(rounds.items())}


def _judge_spread(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """Over groups of runs whose final drafts were identical: the judge's largest range."""
    groups: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if run.judge is not None and run.judge.mean is not None:
            digest = hashlib.sha256(run.final_draft.encode()).hexdigest()
            groups[digest].append(run.judge.mean)
    repeated = [g for g in groups.values() if len(g) > 1]
    return {
        "identical_drafts": len(repeated),
        "max_range": round(max((max(g) - min(g) for g in repeated), default=0.0), 4)
        if repeated
        else None,
    }


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows for the terminal: a metric, each variant's `mean [low, high]`, the winner."""
    names = list(report["variants"])
    rows = []
    for metric, verdict in report["comparison"].items():
        cells = []
        for name in names:
            estimate = report["variants"][name][metric]
            cells.append(_cell(estimate))
        if all(c == "-" for c in cells):
            continue
        rows.append([metric, *cells, verdict["winner"] or "none"])
    rows.append(["tokens", *(str(report["variants"][n]["tokens"]) for n in names), ""])
    rows.append(["cost (USD)", *(f"{report['variants'][n]['cost_usd']:.4f}" for n in names), ""])
    return rows


def _cell(estimate: dict[str, Any]) -> str:
    if estimate["mean"] is None:
        return "-"
    low, high = estimate["ci"]
    return f"{estimate['mean']:.3g} [{low:.3g}, {high:.3g}]"
