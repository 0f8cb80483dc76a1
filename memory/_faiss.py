"""`VectorIndex`: a FAISS index of inner-product vectors by integer id, exact while small.

Vectors are L2-normalised, so inner product is cosine similarity. Below `hnsw_threshold`
vectors the index is a flat (exact) scan; when it grows past that it is rebuilt once as HNSW
(M=32, efConstruction=80, efSearch=128), which measured recall@10 >= 0.95 at 1M vectors in
`benchmarks/memory.py`. HNSW cannot remove vectors, so removals there are tombstones the
caller filters out (ids it no longer knows); `dead` counts them so the owner can rebuild.

Saved with FAISS's own binary format (`faiss.write_index`), never pickle, to a temporary
file that is fsynced and renamed over the old one, so a crash leaves the old file or the new
one. A sha256 of the file is returned for the owner to record and check on load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

__all__ = ["HNSW_EF_SEARCH", "HNSW_M", "IndexFileError", "VectorIndex", "file_sha256"]

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


def _hnsw(dims: int) -> Any:
    inner = faiss.IndexHNSWFlat(dims, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    inner.hnsw.efSearch = HNSW_EF_SEARCH
    return faiss.IndexIDMap2(inner)


class VectorIndex:
    """Vectors by id; exact (flat) below `hnsw_threshold`, HNSW above.

    Args:
        dims: Vector length.
        hnsw_threshold: Vector count past which the index becomes HNSW.
    """

    def __init__(self, dims: int, *, hnsw_threshold: int = 20_000) -> None:
        self.dims = dims
        self.hnsw_threshold = hnsw_threshold
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dims))
        self._owner: Any = None
        self.dead = 0

    @property
    def kind(self) -> str:
        """`flat` or `hnsw`."""
        inner = faiss.downcast_index(self._index.index)
        return "hnsw" if isinstance(inner, faiss.IndexHNSWFlat) else "flat"

    @property
    def size(self) -> int:
        """Vectors held, tombstones included."""
        return int(self._index.ntotal)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors (one row per id); switches to HNSW when past the threshold."""
        if len(ids) == 0:
            return
        if vectors.shape[1] != self.dims:
            raise ValueError(f"vectors have {vectors.shape[1]} dims, index has {self.dims}")
        if self.kind == "flat" and self.size + len(ids) > self.hnsw_threshold:
            self._rebuild_as_hnsw(extra=(ids, vectors))
            return
        self._index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids.astype(np.int64))

    def _rebuild_as_hnsw(self, extra: tuple[Ids, Vectors] | None = None) -> None:
        ids, vectors = self.all()
        if extra is not None:
            ids = np.concatenate([ids, extra[0].astype(np.int64)])
            vectors = np.concatenate([vectors, extra[1].astype(np.float32)])
        fresh = _hnsw(self.dims)
        if len(ids):
            fresh.add_with_ids(np.ascontiguousarray(vectors), ids)
        self._index = fresh
        self.dead = 0

    def all(self) -> tuple[Ids, Vectors]:
        """Every (id, vector) held, tombstones included."""
        count = self.size
        if count == 0:
            return np.empty(0, np.int64), np.empty((0, self.dims), np.float32)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return ids, self.reconstruct(ids)

    def remove(self, ids: Ids) -> None:
        """Remove vectors: really in a flat index, as tombstones in HNSW."""
        if len(ids) == 0:
            return
        if self.kind == "flat":
            self._index.remove_ids(np.asarray(ids, np.int64))
        else:
            self.dead += len(ids)

    def reconstruct(self, ids: Ids) -> Vectors:
        """The stored vectors of `ids` (which must be present)."""
        if len(ids) == 0:
            return np.empty((0, self.dims), np.float32)
        return np.asarray(
            self._index.reconstruct_batch(np.asarray(ids, np.int64)), np.float32
        ).reshape(len(ids), self.dims)

    def search(self, query: Vectors, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """Top-`k` (scores, ids) for one query row; ids of -1 mean fewer than `k` exist."""
        k = max(1, min(k, self.size))
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), np.float32), k)
        return scores[0], ids[0]

    def compact(self, live: Ids) -> None:
        """Rebuild holding only `live` ids (drops HNSW tombstones)."""
        keep = np.asarray(live, np.int64)
        vectors = self.reconstruct(keep)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dims))
        self.dead = 0
        self.add(keep, vectors)

    def save(self, path: Path) -> str:
        """Write atomically (temp file, fsync, rename); return the file's sha256."""
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self._index, str(temporary))
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
        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as error:
            raise IndexFileError(f"{path} is unreadable: {error}") from error
        if raw.d != dims:
            raise IndexFileError(f"{path} holds {raw.d}-dim vectors, expected {dims}")
        index = cls(dims, hnsw_threshold=hnsw_threshold)
        index._owner = raw  # owns the C++ index; the downcast view below does not
        index._index = faiss.downcast_index(raw)
        if not isinstance(index._index, faiss.IndexIDMap2):
            raise IndexFileError(f"{path} is not a copydesk vector index")
        return index
