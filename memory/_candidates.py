"""`Candidates`: the ids and vectors of a large namespace, kept between searches.

Every recall searches the project's namespace, which holds up to its bound (2,000 memories),
so reading its candidate ids and their vectors again for each search is most of what a search
costs. This process keeps them for the few largest prefixes it searched (`large`, `kept`) and
forgets a prefix when a write could add to it or change it: its own batches name the
namespaces they wrote and the items that got a vector (`forget`), and anything another
process wrote empties it all (the caller's `clear`). Items deleted or expired since need no
forgetting: only the rows returned are read, and a row that is gone is not. A search with a
filter, or without a query, reads the database as before.
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
    _entries: OrderedDict[tuple[str, ...], _Entry] = field(default_factory=OrderedDict)

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
        if len(scored) > exact_limit:  # searched approximately: nothing to keep
            return pairs, None
        found = vectors(scored[:, 1])
        if len(pairs) >= self.large:
            self._entries[prefix] = _Entry(
                pairs, np.asarray(found), frozenset(pairs[:, 0].tolist())
            )
            while len(self._entries) > self.kept:
                self._entries.popitem(last=False)
        return pairs, found

    def forget(self, namespaces: Iterable[tuple[str, ...]] = (), items: Iterable[int] = ()) -> None:
        """Forget the prefixes over any of `namespaces`, or holding any of `items`."""
        written = list(namespaces)
        landed = set(items)
        for prefix, entry in list(self._entries.items()):
            if any(ns[: len(prefix)] == prefix for ns in written) or not landed.isdisjoint(
                entry.items
            ):
                del self._entries[prefix]

    def clear(self) -> None:
        """Forget everything (another process wrote, or items can expire)."""
        self._entries.clear()
