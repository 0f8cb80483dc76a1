"""Which rows a search may read, said in SQL: the namespaces under a prefix as one range of
an index, and the simple conditions of a filter pushed down to the database.

A namespace is stored as its JSON text (`["copydesk", "project", "default"]`, ASCII), so the
namespaces under a prefix are the one whose text is the prefix's and those whose text starts
with the prefix's text minus its `]` plus `, `: an equality and a range on the `ns` index,
whatever the number of other namespaces. Byte order is what makes it a range: SQLite compares
text that way, PostgreSQL with `COLLATE "C"` (`ns_sql(..., collate=...)`).

A filter is pushed down only where the database's answer is a superset of LangGraph's
(`copydesk.memory._filters.matches`): an equality of a top-level key with a string (or, in
SQLite, a number). The store still checks every row it returns with `matches`, so a pushed
condition only spares reading rows that cannot match; anything else is checked in Python on
the rows read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Where", "filter_sql", "namespace_text", "ns_sql"]

Where = tuple[str, list[Any]]
"""An SQL condition with `?` placeholders, and its parameters."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def namespace_text(namespace: tuple[str, ...]) -> str:
    """The stored text of a namespace."""
    return json.dumps(list(namespace))


def ns_sql(prefix: tuple[str, ...], column: str = "n.ns", collate: str = "") -> Where:
    """Condition on the `ns` column: the namespace is `prefix` or under it."""
    if not prefix:
        return "1 = 1", []
    head = namespace_text(prefix)[:-1]
    col = f"{column}{collate}"
    return f"({col} = ? OR ({col} >= ? AND {col} < ?))", [head + "]", head + ", ", head + ",!"]


def _pushable(expected: Any, numbers: bool) -> Any:
    if isinstance(expected, dict) and set(expected) == {"$eq"}:
        expected = expected["$eq"]
    if isinstance(expected, str):
        return expected
    if numbers and isinstance(expected, int | float) and not isinstance(expected, bool):
        return expected
    return None


def filter_sql(where: Mapping[str, Any] | None, extract: str, *, numbers: bool) -> Where:
    """Conditions of `where` the database can check; `extract` formats a key into an SQL
    expression for the value at that key (`json_extract(i.value, '$.{key}')`)."""
    parts: list[str] = []
    params: list[Any] = []
    for key, expected in (where or {}).items():
        value = _pushable(expected, numbers)
        if value is None or not _KEY.fullmatch(key):
            continue
        parts.append(f"{extract.format(key=key)} = ?")
        params.append(value)
    return (" AND ".join(parts) or "1 = 1"), params
