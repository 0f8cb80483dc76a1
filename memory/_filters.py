"""Search filters and namespace match conditions, with the semantics of LangGraph's stores.

A filter maps value keys to an expected value (nested dicts and lists compare element-wise)
or to operators (`$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`), as PostgreSQL's JSONB store
reads them. A namespace condition is a prefix or suffix where `*` matches any one label.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from langgraph.store.base import MatchCondition

__all__ = ["matches", "namespace_matches"]

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _operator(value: Any, name: str, expected: Any) -> bool:
    if name == "$eq":
        return bool(value == expected)
    if name == "$ne":
        return bool(value != expected)
    if name in _NUMERIC:
        return _NUMERIC[name](float(value), float(expected))
    raise ValueError(f"unsupported filter operator {name!r}; use $eq, $ne, $gt, $gte, $lt, $lte")


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if any(str(k).startswith("$") for k in expected):
            return all(_operator(value, k, v) for k, v in expected.items())
        return isinstance(value, dict) and all(_equal(value.get(k), v) for k, v in expected.items())
    if isinstance(expected, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(expected)
            and all(_equal(a, b) for a, b in zip(value, expected, strict=True))
        )
    return bool(value == expected)


def matches(value: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """True when `value` satisfies every condition of `where` (None matches everything)."""
    return all(_equal(value.get(k), v) for k, v in (where or {}).items())


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """True when `namespace` has `condition.path` as prefix or suffix (`*` = any label)."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"unsupported match type {condition.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)
