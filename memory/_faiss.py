"""`VectorIndex`: inner-product vectors by integer id, exact while small, FAISS when large.

Vectors are L2-normalised, so inner product is cosine similarity. Up to `faiss_from` vectors
(20,000 by default: many months of one team's memories) they are a NumPy array scanned
exactly (or, with `hold=False`, only their ids are kept: the owner reads the vectors a
search needs from its source), and FAISS is not even imported: it costs ~15 MiB of resident
memory and ~0.1 s of start-up, which every run would pay for nothing. Past that the vectors
move once into a FAISS flat (exact) index; past `hnsw_threshold` it is rebuilt once as HNSW
(M=32, efConstruction=80, efSearch=128), which measured recall@10 >= 0.95 at 1M vectors in
`benchmarks/memory.py`. HNSW cannot remove vectors, so removals there are tombstones the
caller filters out (ids it no longer knows); `dead` counts them so the owner can rebuild.

A FAISS index is saved with FAISS's own binary format (`faiss.write_index`), never pickle,
to a temporary file that is fsynced and renamed over the old one, so a crash leaves the old
file or the new one. A sha256 of the file is returned for the owner to record and check on
load. A NumPy-held index is not saved (`save` returns ""): reading it back from the source of
truth is as quick as reading a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FAISS_FROM",
    "HNSW_EF_SEARCH",
    "HNSW_M",
    "IndexFileError",
    "VectorIndex",
    "file_sha256",
]

FAISS_FROM = 20_000
"""Vectors past which an index moves from a NumPy array into FAISS (a store's cache keeps
ids only up to there: 1,000 conversations leave ~5,000 vectors, which had crossed 4,096 at
the end of the batch and cost ~60 MiB of peak RSS to read every vector into FAISS)."""

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


class IndexFileError(RuntimeError):
    """An index file that is missing, truncated or does not match its record."""


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _faiss() -> Any:
    import faiss  # loaded only once an index outgrows NumPy

    # One OpenMP thread: a store asks one query (or a few thousand ids) at a time, where
    # FAISS's thread team only spins. Measured on 2 busy cores: reconstructing 2,000 vectors
    # took 5 ms of CPU (28 ms wall) with the default team, 0.02 ms with one thread.
    faiss.omp_set_num_threads(1)
    return faiss


def _hnsw(dims: int) -> Any:
    faiss = _faiss()
    inner = faiss.IndexHNSWFlat(dims, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    inner.hnsw.efSearch = HNSW_EF_SEARCH
    return faiss.IndexIDMap2(inner)


class VectorIndex:
    """Vectors by id: a NumPy array up to `faiss_from`, then FAISS (flat, HNSW above
    `hnsw_threshold`).

    Args:
        dims: Vector length.
        hnsw_threshold: Vector count past which the index becomes HNSW.
        faiss_from: Vector count past which the vectors move into FAISS.
        hold: False: up to `faiss_from` only the ids are kept, not the vectors (the owner
            reads those from its source when asked; `reconstruct`, `search` and `all` then
            raise, and the owner must give every vector again to move past `faiss_from`).
    """

    def __init__(
        self,
        dims: int,
        *,
        hnsw_threshold: int = 20_000,
        faiss_from: int = FAISS_FROM,
        hold: bool = True,
    ) -> None:
        self.dims = dims
        self.hold = hold
        self.hnsw_threshold = hnsw_threshold
        self.faiss_from = min(faiss_from, hnsw_threshold)
        self._index: Any = None  # FAISS, once past `faiss_from`
        self._owner: Any = None
        self._ids: Ids = np.empty(0, np.int64)
        self._rows: Vectors = np.empty((0, dims), np.float32)  # capacity grows by doubling
        self._count = 0
        self._at: dict[int, int] = {}  # id -> row
        self.dead = 0

    @property
    def kind(self) -> str:
        """`flat` (exact: NumPy or FAISS) or `hnsw`."""
        if self._index is None:
            return "flat"
        faiss = _faiss()
        inner = faiss.downcast_index(self._index.index)
        return "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "flat"

    @property
    def size(self) -> int:
        """Vectors held, tombstones included."""
        return self._count if self._index is None else int(self._index.ntotal)

    def moves_with(self, count: int) -> bool:
        """True when adding `count` vectors would move ids-only rows into FAISS (which needs
        every vector: the owner gives them all again instead)."""
        return not self.hold and self._index is None and self.size + count > self.faiss_from

    def add_ids(self, ids: Ids) -> None:
        """Add ids without vectors (an index with `hold=False` that stays below `faiss_from`).

        Raises:
            ValueError: The index holds vectors, or would move into FAISS.
        """
        if self.hold or self.moves_with(len(ids)):
            raise ValueError("ids alone go only into an ids-only index below faiss_from")
        self._append(np.asarray(ids, np.int64), np.empty((0, 0), np.float32))

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors (one row per id); moves into FAISS, then HNSW, past the thresholds."""
        if len(ids) == 0:
            return
        if vectors.shape[1] != self.dims:
            raise ValueError(f"vectors have {vectors.shape[1]} dims, index has {self.dims}")
        if self._index is None and self.size + len(ids) <= self.faiss_from:
            self._append(np.asarray(ids, np.int64), np.asarray(vectors, np.float32))
            return
        if self.kind == "flat" and self.size + len(ids) > self.hnsw_threshold:
            self._rebuild_as_hnsw(extra=(ids, vectors))
            return
        if self._index is None:
            self._move_into_faiss()
        self._index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids.astype(np.int64))

    def _append(self, ids: Ids, vectors: Vectors) -> None:
        end = self._count + len(ids)
        if end > len(self._ids):
            capacity = max(end, 2 * len(self._ids), 64)
            grown = np.empty(capacity, np.int64)
            grown[: self._count] = self._ids[: self._count]
            self._ids = grown
            if self.hold:
                rows = np.empty((capacity, self.dims), np.float32)
                rows[: self._count] = self._rows[: self._count]
                self._rows = rows
        if self.hold:
            self._rows[self._count : end] = vectors
        self._ids[self._count : end] = ids
        for row, vector_id in enumerate(ids.tolist(), self._count):
            self._at[vector_id] = row
        self._count = end

    def _move_into_faiss(self) -> None:
        faiss = _faiss()
        ids, vectors = self.all()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dims))
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._drop_arrays()

    def _drop_arrays(self) -> None:
        self._ids = np.empty(0, np.int64)
        self._rows = np.empty((0, self.dims), np.float32)
        self._count = 0
        self._at = {}

    def _rebuild_as_hnsw(self, extra: tuple[Ids, Vectors] | None = None) -> None:
        ids, vectors = self.all()
        if extra is not None:
            ids = np.concatenate([ids, extra[0].astype(np.int64)])
            vectors = np.concatenate([vectors, extra[1].astype(np.float32)])
        fresh = _hnsw(self.dims)
        if len(ids):
            fresh.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._index = fresh
        self._drop_arrays()
        self.dead = 0

    def all(self) -> tuple[Ids, Vectors]:
        """Every (id, vector) held, tombstones included."""
        if self._index is None:
            self._held()
            return self._ids[: self._count].copy(), self._rows[: self._count].copy()
        if self.size == 0:
            return np.empty(0, np.int64), np.empty((0, self.dims), np.float32)
        ids = _faiss().vector_to_array(self._index.id_map).astype(np.int64)
        return ids, self.reconstruct(ids)

    def remove(self, ids: Ids) -> None:
        """Remove vectors: really in a flat index, as tombstones in HNSW."""
        if len(ids) == 0:
            return
        if self._index is None:
            gone = {int(i) for i in np.asarray(ids).tolist()} & self._at.keys()
            if gone:
                keep = [r for i, r in self._at.items() if i not in gone]
                keep.sort()
                kept_ids = self._ids[keep]
                kept_rows = self._rows[keep] if self.hold else np.empty((len(keep), 0), np.float32)
                self._drop_arrays()
                self._append(kept_ids, kept_rows)
        elif self.kind == "flat":
            self._index.remove_ids(np.asarray(ids, np.int64))
        else:
            self.dead += len(ids)

    def reconstruct(self, ids: Ids) -> Vectors:
        """The stored vectors of `ids`.

        Raises:
            RuntimeError: One of `ids` is not held.
        """
        if len(ids) == 0:
            return np.empty((0, self.dims), np.float32)
        if self._index is None:
            self._held()
            try:
                rows = [self._at[int(i)] for i in np.asarray(ids).tolist()]
            except KeyError as error:
                raise RuntimeError(f"vector id {error} is not in the index") from None
            return self._rows[rows]
        return np.asarray(
            self._index.reconstruct_batch(np.asarray(ids, np.int64)), np.float32
        ).reshape(len(ids), self.dims)

    def search(self, query: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """Top-`k` (scores, ids) for one query row; ids of -1 mean fewer than `k` exist."""
        k = max(1, min(k, self.size))
        row = np.ascontiguousarray(query.reshape(1, -1), np.float32)
        if self._index is not None:
            scores, ids = self._index.search(row, k)
            return scores[0], ids[0]
        self._held()
        if self._count == 0:
            return np.full(k, -np.inf, np.float32), np.full(k, -1, np.int64)
        all_scores = np.einsum("ij,j->i", self._rows[: self._count], row[0])  # no BLAS threads
        top = np.argpartition(-all_scores, k - 1)[:k] if k < self._count else np.arange(k)
        top = top[np.argsort(-all_scores[top], kind="stable")]
        return all_scores[top].astype(np.float32), self._ids[top]

    def _held(self) -> None:
        if not self.hold and self._count:
            raise RuntimeError("this index keeps ids only below faiss_from, not vectors")

    def compact(self, live: Ids) -> None:
        """Rebuild holding only `live` ids (drops HNSW tombstones)."""
        keep = np.asarray(live, np.int64)
        vectors = self.reconstruct(keep)
        self._index = None
        self._owner = None
        self._drop_arrays()
        self.dead = 0
        self.add(keep, vectors)

    def save(self, path: Path) -> str:
        """Write atomically (temp file, fsync, rename); return the file's sha256, or "" for
        an index held in NumPy (not saved: the owner rebuilds it from its source)."""
        if self._index is None:
            path.unlink(missing_ok=True)
            return ""
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        _faiss().write_index(self._index, str(temporary))
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        digest = file_sha256(temporary)
        temporary.replace(path)
        return digest

    @classmethod
    def load(cls, path: Path, *, dims: int, sha256: str, hnsw_threshold: int) -> VectorIndex:
        """Read an index saved by `save`.

        Raises:
            IndexFileError: Missing, truncated, or not the file `sha256` describes.
        """
        if not path.is_file():
            raise IndexFileError(f"{path} is missing")
        if file_sha256(path) != sha256:
            raise IndexFileError(f"{path} does not match its recorded checksum (half-written?)")
        faiss = _faiss()
        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as error:
            raise IndexFileError(f"{path} is unreadable: {error}") from error
        if raw.d != dims:
            raise IndexFileError(f"{path} holds {raw.d}-dim vectors, expected {dims}")
        index = cls(dims, hnsw_threshold=hnsw_threshold, faiss_from=0)
        index._owner = raw  # owns the C++ index; the downcast view below does not
        index._index = faiss.downcast_index(raw)
        if not isinstance(index._index, faiss.IndexIDMap2):
            raise IndexFileError(f"{path} is not a copydesk vector index")
        return index
