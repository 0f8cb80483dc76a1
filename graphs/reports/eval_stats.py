"""The statistics of an evaluation: means with bootstrap intervals, paired differences between
variants, and a sign test.

Every interval is a 95 % percentile bootstrap over 2,000 resamples from a generator seeded
with 0, so the same scores always give the same numbers (a replayed eval in CI compares
them exactly). Two variants are compared on the runs they share (the same case and repeat):
the mean paired difference, its bootstrap interval, and the two-sided sign test on the
pairs that differ. A variant wins a metric only when every interval of its differences with
the others excludes zero in its favour; otherwise there is no winner. Fewer than
`MIN_PAIRS` (5) pairs name no winner.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LOWER_IS_BETTER",
    "Estimate",
    "PairedComparison",
    "bootstrap_ci",
    "compare",
    "sign_test",
]

RESAMPLES = 2000
MIN_PAIRS = 5
"""Fewer paired runs than this name no winner: a bootstrap of two or three differences
spans only those values, and would call a difference certain on no evidence."""
LOWER_IS_BETTER = frozenset(
    {"regression_rate", "approved_removed", "length_error", "repeated_ngrams", "grade_level"}
)
"""Metrics where a smaller value is the better one."""


@dataclass(frozen=True)
class Estimate:
    """A mean and its 95 % bootstrap interval over `n` values."""

    mean: float | None
    ci: tuple[float, float] | None
    n: int

    def as_json(self) -> dict[str, Any]:
        return {
            "mean": _round(self.mean),
            "ci": [_round(self.ci[0]), _round(self.ci[1])] if self.ci else None,
            "n": self.n,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def bootstrap_ci(values: Sequence[float], *, seed: int = 0) -> Estimate:
    """The mean of `values` and its 95 % percentile bootstrap interval."""
    if not values:
        return Estimate(None, None, 0)
    mean = sum(values) / len(values)
    if len(values) == 1:
        return Estimate(mean, (mean, mean), 1)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(RESAMPLES))
    return Estimate(mean, (means[int(0.025 * RESAMPLES)], means[int(0.975 * RESAMPLES) - 1]), n)


def sign_test(differences: Sequence[float]) -> float:
    """Two-sided p-value of the sign test: how likely this many positive differences among
    the non-zero ones would be if either sign were as likely."""
    signs = [d for d in differences if d != 0]
    n, k = len(signs), sum(d > 0 for d in signs)
    if n == 0:
        return 1.0
    tail = float(sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1))) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """`other` minus `baseline` on the runs both have."""

    baseline: str
    other: str
    difference: Estimate
    sign_p: float

    def better(self, metric: str) -> str | None:
        """The variant the interval favours, or None when it includes zero."""
        ci = self.difference.ci
        if ci is None or self.difference.n < MIN_PAIRS or ci[0] <= 0 <= ci[1]:
            return None
        higher = self.other if ci[0] > 0 else self.baseline
        lower = self.baseline if higher == self.other else self.other
        return lower if metric in LOWER_IS_BETTER else higher

    def as_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "other": self.other,
            "mean_difference": self.difference.as_json()["mean"],
            "ci": self.difference.as_json()["ci"],
            "pairs": self.difference.n,
            "sign_test_p": round(self.sign_p, 4),
        }


def compare(
    metric: str, runs: Mapping[str, Mapping[Any, float | None]]
) -> tuple[str | None, list[PairedComparison]]:
    """The winner of `metric` (or None) and every pairwise comparison, from each variant's
    values keyed by run (case, repeat)."""
    names = list(runs)
    pairs: list[PairedComparison] = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = [k for k in runs[a] if runs[a][k] is not None and runs[b].get(k) is not None]
            diffs = [float(runs[b][k]) - float(runs[a][k]) for k in shared]  # type: ignore[arg-type]
            pairs.append(PairedComparison(a, b, bootstrap_ci(diffs), sign_test(diffs)))
    for name in names:
        mine = [p for p in pairs if name in (p.baseline, p.other)]
        if mine and all(p.better(metric) == name for p in mine):
            return name, pairs
    return None, pairs
