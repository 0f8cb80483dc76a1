"""`Candidates`: the ids and vectors of a large namespace, kept between searches.

Every recall searches the project's namespace, which holds up to its bound (2,000 memories),
so reading its candidate ids and their vectors again for each search is most of what a search
costs. This process keeps them for the few largest prefixes it searched (`large`, `kept`) and
forgets a prefix when a write could add to it or change it: its own batches name the
namespaces they wrote and the items that got a vector (`forget`), and anything another
process wrote empties it all (the caller's `clear`). Items deleted or expired since need no
forgetting: only the rows returned are read, and a row that is gone is not. A search with a
filter, or without a query, reads the database as before.

A forgotten prefix's ids are read again, but not its vectors: a vector id always names the
same vector (a changed text gets a new id), so the vectors it held are reused by id and only
the new ones are read (a turn that adds one memory to the project reads one vector, not
2,000). Another process's write forgets those too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Candidates"]


@dataclass
class _Entry:
    pairs: Any
    """(item id, vector id or -1) rows, as the database returned them."""
    vectors: Any
    """The vectors of the rows with one, in their order."""
    items: frozenset[int]


@dataclass
class Candidates:
    """Candidate ids and vectors of the largest prefixes searched, until a write touches them.

    Attributes:
        large: Candidates from which a prefix is kept (smaller ones are cheap to read).
        kept: Prefixes kept at most (least recently searched go first).
    """

    large: int = 200
    kept: int = 8
    read: int = 0
    """Vectors read so far (not reused from a forgotten entry)."""
    _entries: OrderedDict[tuple[str, ...], _Entry] = field(default_factory=OrderedDict)
    _forgotten: dict[tuple[str, ...], _Entry] = field(default_factory=dict)

    def get(
        self,
        prefix: tuple[str, ...],
        read: Callable[[], Any],
        vectors: Callable[[Any], Any],
        exact_limit: int,
    ) -> tuple[Any, Any]:
        """(pairs, vectors of the scored pairs) of `prefix`: kept ones, or `read()` and
        `vectors(vector ids)` (kept when large); no vectors (None) past `exact_limit`."""
        entry = self._entries.get(prefix)
        if entry is not None:
            self._entries.move_to_end(prefix)
            return entry.pairs, entry.vectors
        pairs = read()
        scored = pairs[pairs[:, 1] >= 0]
        before = self._forgotten.pop(prefix, None)
        if len(scored) > exact_limit:  # searched approximately: nothing to keep
            return pairs, None
        found = self._vectors(scored[:, 1], before, vectors)
        if len(pairs) >= self.large:
            self._entries[prefix] = _Entry(
                pairs, np.asarray(found), frozenset(pairs[:, 0].tolist())
            )
            while len(self._entries) > self.kept:
                self._entries.popitem(last=False)
        return pairs, found

    def _vectors(self, ids: Any, before: _Entry | None, vectors: Callable[[Any], Any]) -> Any:
        """The vectors of `ids`: those `before` held reused by id, the others read."""
        if before is None or len(before.vectors) == 0 or len(ids) == 0:
            self.read += len(ids)
            return vectors(ids)
        held = before.pairs[before.pairs[:, 1] >= 0][:, 1]
        order = np.argsort(held, kind="stable")
        rows = order[np.searchsorted(held, ids, sorter=order).clip(0, len(held) - 1)]
        known = held[rows] == ids
        found = np.empty((len(ids), before.vectors.shape[1]), np.float32)
        found[known] = before.vectors[rows[known]]
        if not known.all():
            self.read += int((~known).sum())
            found[~known] = vectors(ids[~known])
        return found

    def forget(self, namespaces: Iterable[tuple[str, ...]] = (), items: Iterable[int] = ()) -> None:
        """Forget the prefixes over any of `namespaces`, or holding any of `items`."""
        written = list(namespaces)
        landed = set(items)
        for prefix, entry in list(self._entries.items()):
            if any(ns[: len(prefix)] == prefix for ns in written) or not landed.isdisjoint(
                entry.items
            ):
                self._forgotten[prefix] = self._entries.pop(prefix)
        while len(self._forgotten) > self.kept:  # the oldest go
            del self._forgotten[next(iter(self._forgotten))]

    def clear(self) -> None:
        """Forget everything, vectors too (another process wrote, or items can expire)."""
        self._entries.clear()
        self._forgotten.clear()
