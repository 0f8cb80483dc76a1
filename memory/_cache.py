"""`IndexCache`: this process's FAISS index, a cache of the vectors in the source of truth.

The source of truth (SQLite here; PostgreSQL in a shared deployment) holds every vector with
the generation of the batch that wrote it, and logs the ids of dropped vectors the same way
(`copydesk.memory._rows.VectorRows`). The cache remembers the generation it reflects; `catch_up`
applies only the vectors added and dropped after it, inside the caller's read or write
transaction, so the cache and what the caller reads next describe the same moment. A cache
older than the trimmed log (`log_from`), or one that finds the store went back in time (it
was deleted and made again), rebuilds from every vector. Saved files record the generation
they reflect, so a process that opens a saved index catches up from there too.

Up to `faiss_from` vectors (20,000 by default) the cache keeps their ids only: a search
reads the vectors it scores from the source (`vectors`), so a process holds no vector no
search of its asks for (the largest prefixes' are kept by `copydesk.memory._candidates`), and
opening the store reads ids, not vectors. Past it, FAISS holds every vector, loaded once
from the source when the store grows past the line.

This is the seam for other sources of truth: anything with `generation()`,
`changes_since(g)`, `log_from()` and `all_vectors()` can keep an `IndexCache` current.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from copydesk.memory._faiss import FAISS_FROM, IndexFileError, VectorIndex

__all__ = ["IndexCache", "VectorSource"]


class VectorSource(Protocol):
    """What the cache reads from the source of truth."""

    def changes_since(self, gen: int) -> tuple[list[tuple[int, bytes]], list[int]]: ...
    def log_from(self) -> int: ...
    def all_vectors(self) -> Iterable[tuple[int, bytes]]: ...
    def all_ids(self) -> list[int]: ...


class IndexCache:
    """A `VectorIndex` and the generation of the source it reflects.

    Args:
        dims: Vector length.
        hnsw_threshold: Vectors past which the index becomes HNSW.
        faiss_from: Vectors past which the index moves from NumPy into FAISS.
    """

    def __init__(
        self, dims: int, *, hnsw_threshold: int = 20_000, faiss_from: int = FAISS_FROM
    ) -> None:
        self.faiss_from = faiss_from
        self.index = VectorIndex(
            dims, hnsw_threshold=hnsw_threshold, faiss_from=faiss_from, hold=False
        )
        self.generation = -1
        """Generation reflected; -1 before the first catch-up (a full load)."""
        self.rebuilds = 0
        """Full rebuilds so far (loads of every vector)."""

    @property
    def dims(self) -> int:
        """Vector length."""
        return self.index.dims

    def load(self, path: Path, *, sha256: str, generation: int) -> bool:
        """Start from a saved index that reflects `generation`; False if it is unusable."""
        try:
            self.index = VectorIndex.load(
                path, dims=self.dims, sha256=sha256, hnsw_threshold=self.index.hnsw_threshold
            )
        except IndexFileError:
            return False
        self.generation = generation
        return True

    def catch_up(self, source: VectorSource, current: int) -> None:
        """Reflect generation `current` of `source` (call inside the caller's transaction)."""
        if current == self.generation:
            return
        if self.generation < 0 or current < self.generation or self.generation < source.log_from():
            self.rebuild(source)
        else:
            added, dropped = source.changes_since(self.generation)
            self.index.remove(np.asarray(dropped, np.int64))
            if self.index.moves_with(len(added)):  # into FAISS: every vector is needed
                self.rebuild(source)
            elif added:
                self.index.add(*_arrays([i for i, _ in added], [b for _, b in added], self.dims))
        self.generation = current

    def rebuild(self, source: VectorSource) -> None:
        """Load every vector id of `source` into a fresh index, and every vector too when they
        are past `faiss_from` (FAISS holds them)."""
        fresh = VectorIndex(
            self.dims,
            hnsw_threshold=self.index.hnsw_threshold,
            faiss_from=self.faiss_from,
            hold=False,
        )
        every = np.asarray(sorted(source.all_ids()), np.int64)
        if not fresh.moves_with(len(every)):  # ids only: no vector is read
            fresh.add_ids(every)
            self.index = fresh
            self.rebuilds += 1
            return
        fresh.hold = True  # on its way into FAISS, which holds them all
        ids: list[int] = []
        blobs: list[bytes] = []
        for vector_id, blob in source.all_vectors():
            ids.append(vector_id)
            blobs.append(blob)
            if len(ids) == 10_000:
                fresh.add(*_arrays(ids, blobs, self.dims))
                ids, blobs = [], []
        fresh.add(*_arrays(ids, blobs, self.dims))
        fresh.hold = False
        self.index = fresh
        self.rebuilds += 1

    def apply(
        self, added_ids: Sequence[int], vectors: Any, dropped: Sequence[int], generation: int
    ) -> None:
        """Apply this process's own committed batch (the cache was at the generation before);
        one that takes the cache into FAISS leaves it to be made from every vector at the
        next catch-up."""
        self.index.remove(np.asarray(dropped, np.int64))
        if self.index.moves_with(len(added_ids)):
            self.generation = -1  # the next transaction's catch-up reads every vector
            return
        if len(added_ids):
            self.index.add(np.asarray(added_ids, np.int64), np.asarray(vectors, np.float32))
        self.generation = generation

    def vectors(self, ids: Sequence[int], blobs: Any) -> Any:
        """The vectors of `ids`; any the index lacks are read with `blobs(missing ids)`."""
        wanted = np.asarray(ids, np.int64)
        try:
            return self.index.reconstruct(wanted)
        except RuntimeError:  # not in this cache (yet): the source of truth has them all
            found: dict[int, bytes] = blobs([int(i) for i in wanted])
            out = np.zeros((len(wanted), self.dims), np.float32)
            for row, vector_id in enumerate(wanted):
                blob = found.get(int(vector_id))
                if blob is not None:
                    out[row] = np.frombuffer(blob, np.float32)
            return out


def _arrays(ids: list[int], blobs: list[bytes], dims: int) -> tuple[Any, Any]:
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dims)
    return np.asarray(ids, np.int64), vectors
