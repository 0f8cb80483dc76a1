"""`Spaces`: an index of one prefix's vectors for each prefix searched approximately.

Past `exact_limit` candidates a search is approximate. Searching one index of every vector in
the store and dropping what lies outside the prefix costs what the whole store holds (and,
for a small prefix in a large store, asks for ever more neighbours until enough are its
own). Here a prefix searched approximately gets an index of its own vectors only, made on its
first search from its candidates' vectors, and kept in step at each later search by the
difference between the ids it holds and the candidates the database returns in the same read:
new vectors are added, gone ones stay as tombstones the search skips (HNSW cannot remove),
and the index is made again once they outnumber the live ones. At most `kept` prefixes are
held, the least recently searched going first, so vectors of prefixes no search asks for
again are let go.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from copydesk.memory._faiss import FAISS_FROM, VectorIndex

__all__ = ["Spaces"]


@dataclass
class _Space:
    index: VectorIndex
    held: set[int]
    """Vector ids in the index, tombstones included."""


@dataclass
class Spaces:
    """Per-prefix vector indexes for approximate search.

    Attributes:
        dims: Vector length.
        hnsw_threshold: Vectors past which a prefix's index becomes HNSW.
        kept: Prefixes held at most.
        loaded: Vectors read into a prefix's index so far (its cost: the prefix, never the
            rest of the store).
    """

    dims: int
    hnsw_threshold: int = 20_000
    kept: int = 2
    loaded: int = 0
    _spaces: OrderedDict[tuple[str, ...], _Space] = field(default_factory=OrderedDict)

    def of(
        self, prefix: tuple[str, ...], vector_ids: Any, read: Callable[[Any], Any]
    ) -> VectorIndex:
        """The index of `prefix`, holding every id of `vector_ids` (its live vectors, from
        the caller's read); vectors it lacks are read with `read(ids)`."""
        live = np.asarray(vector_ids, np.int64)
        space = self._spaces.get(prefix)
        if space is not None and len(space.held) - len(live) > len(live):  # mostly tombstones
            space = None
        if space is None:
            index = VectorIndex(
                self.dims,
                hnsw_threshold=self.hnsw_threshold,
                faiss_from=min(FAISS_FROM, self.hnsw_threshold),
            )
            space = _Space(index, set())
        held = space.held
        new = np.fromiter((i not in held for i in live.tolist()), bool, len(live))
        missing = live[new]
        if len(missing):
            space.index.add(missing, np.asarray(read(missing), np.float32))
            held.update(missing.tolist())
            self.loaded += len(missing)
        self._spaces[prefix] = space
        self._spaces.move_to_end(prefix)
        while len(self._spaces) > self.kept:
            self._spaces.popitem(last=False)
        return space.index

    def clear(self) -> None:
        """Let every prefix's index go."""
        self._spaces.clear()
