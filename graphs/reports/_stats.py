"""Fisher's exact test on a 2x2 table, with the math module only (log-gamma, no big ints)."""

from __future__ import annotations

import math

__all__ = ["fisher_exact"]


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the table [[a, b], [c, d]].

    Rows are groups (variant, control), columns outcomes (approved, not approved). The
    p-value sums the hypergeometric probabilities of every table with the same margins that
    is no more likely than the observed one.
    """
    row1, col1, n = a + b, a + c, a + b + c + d
    if n == 0 or row1 in (0, n) or col1 in (0, n):
        return 1.0
    low, high = max(0, col1 - (n - row1)), min(row1, col1)
    denominator = _log_comb(n, col1)

    def log_p(x: int) -> float:
        return _log_comb(row1, x) + _log_comb(n - row1, col1 - x) - denominator

    observed = log_p(a)
    total = sum(math.exp(log_p(x)) for x in range(low, high + 1) if log_p(x) <= observed + 1e-7)
    return min(1.0, total)
