"""`FaissStore`: a LangGraph `BaseStore` with FAISS semantic search, persisted without pickle.

Items, their vectors and TTLs live in SQLite (`items.sqlite`), one transaction per batch;
the FAISS index (`vectors.faiss`, FAISS's own format) is a cache of the vectors, saved
atomically on `flush()`/`close()` with its sha256 and the batch generation it reflects.
On open, a missing, half-written or stale index file is detected (checksum or generation
mismatch) and rebuilt from SQLite, so a crash never leaves search silently wrong.

Semantics follow LangGraph's `InMemoryStore` (the reference the tests compare against):
reads in a batch see the state before the batch's writes, the last write to a key in a batch
wins, search without a query returns items in namespace then insertion order, search with a
query ranks by cosine similarity (max over an item's indexed fields) and fills up with
unindexed items. Differences: TTL is supported, and `list_namespaces` lists only namespaces
that hold items. While the index holds at most `exact_limit` vectors every search is exact;
past it, searches are approximate (HNSW) and do not fill with unindexed items.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.store.base import (
    BaseStore,
    GetOp,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from memory._faiss import IndexFileError, VectorIndex
from memory._filters import namespace_matches
from memory._items import ItemTable
from memory._search import search
from memory.embeddings import Embedder, EmbedderMismatchError

__all__ = ["FaissStore"]

INDEX_FILE, ITEMS_FILE = "vectors.faiss", "items.sqlite"


class FaissStore(BaseStore):
    """Namespaced items with semantic search over FAISS.

    Args:
        path: Directory for `items.sqlite` and `vectors.faiss`; None keeps all in memory.
        embedder: Embeds indexed text; None disables semantic search.
        fields: JSON paths of the value to index (`$` is the whole value).
        ttl: TTL defaults (`default_ttl` minutes, `refresh_on_read`).
        hnsw_threshold: Vectors past which the index becomes HNSW.
        exact_limit: Vectors up to which searches score every candidate exactly.

    Raises:
        EmbedderMismatchError: `path` holds an index built with another embedder or dims.
    """

    supports_ttl = True

    def __init__(
        self,
        path: Path | None = None,
        *,
        embedder: Embedder | None = None,
        fields: Sequence[str] = ("$",),
        ttl: TTLConfig | None = None,
        hnsw_threshold: int = 20_000,
        exact_limit: int = 20_000,
    ) -> None:
        self.path = path
        self.embedder = embedder
        self.fields = [(f, f if f == "$" else tokenize_path(f)) for f in fields]
        self.ttl_config = ttl
        self.exact_limit = exact_limit
        self.rebuilt = False
        """True when the index file was missing, stale or damaged and was rebuilt at open."""
        self._lock = threading.RLock()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        self.items = ItemTable(path / ITEMS_FILE if path else None)
        dims = embedder.dims if embedder else 1
        self._check_embedder()
        self.index = self._open_index(dims, hnsw_threshold)
        self._generation = self.items.meta("generation") or "0"
        """The write generation the in-memory index reflects (another process may be ahead)."""

    def _check_embedder(self) -> None:
        if self.embedder is None:
            return
        name, dims = self.items.meta("embedder"), self.items.meta("dims")
        if name is None:
            self.items.set_meta(embedder=self.embedder.name, dims=str(self.embedder.dims))
        elif name != self.embedder.name or int(dims or 0) != self.embedder.dims:
            raise EmbedderMismatchError(
                f"the memory at {self.path} was indexed with {name} ({dims} dims) but this run "
                f"embeds with {self.embedder.name} ({self.embedder.dims} dims); use the same "
                "embedder, or clear it with `copydesk memory forget --all`"
            )

    def _open_index(self, dims: int, threshold: int) -> VectorIndex:
        if self.path is not None:
            generation, sha = self.items.meta("generation"), self.items.meta("index_sha256")
            if sha is not None and generation == self.items.meta("index_generation"):
                try:
                    return VectorIndex.load(
                        self.path / INDEX_FILE, dims=dims, sha256=sha, hnsw_threshold=threshold
                    )
                except IndexFileError:
                    pass  # rebuilt below from SQLite, the source of truth
            self.rebuilt = self.items.count("vectors") > 0
        return self._rebuild(dims, threshold)

    def _rebuild(self, dims: int, threshold: int) -> VectorIndex:
        index = VectorIndex(dims, hnsw_threshold=threshold)
        batch_ids: list[int] = []
        batch_vectors: list[bytes] = []
        for vector_id, blob in self.items.all_vectors():
            batch_ids.append(vector_id)
            batch_vectors.append(blob)
            if len(batch_ids) == 10_000:
                index.add(*_arrays(batch_ids, batch_vectors, dims))
                batch_ids, batch_vectors = [], []
        index.add(*_arrays(batch_ids, batch_vectors, dims))
        return index

    def flush(self) -> None:
        """Save the FAISS index (atomically) and record what it reflects."""
        if self.path is None:
            return
        with self._lock:
            if self.index.dead > self.index.size // 2:
                live = [v for v, _ in self.items.all_vectors()]
                self.index.compact(np.asarray(live, np.int64))
            digest = self.index.save(self.path / INDEX_FILE)
            self.items.set_meta(index_sha256=digest, index_generation=self._generation)

    def close(self) -> None:
        """Flush and close the database."""
        self.flush()
        self.items.close()

    # BaseStore

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run gets, searches and namespace listings, then the puts, in one transaction."""
        ops = list(ops)
        with self._lock:
            self._catch_up()
            now = time.time()
            results: list[Result] = []
            puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
            refresh: list[int] = []
            for op in ops:
                if isinstance(op, GetOp):
                    row = self.items.get(op.namespace, op.key, now)
                    results.append(row[2] if row else None)
                    if row and op.refresh_ttl:
                        refresh.append(row[0])
                elif isinstance(op, SearchOp):
                    found = self._search(op, now)
                    results.append([item for _, item in found])
                    if op.refresh_ttl:
                        refresh += [item_id for item_id, _ in found]
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op, now))
                elif isinstance(op, PutOp):
                    puts[(op.namespace, op.key)] = op
                    results.append(None)
                else:
                    raise ValueError(f"unknown store operation {type(op).__name__}")
            if puts or refresh:
                self._write(list(puts.values()), refresh, now)
            return results

    def _catch_up(self) -> None:
        """Rebuild the index when another process wrote since this one last looked."""
        current = self.items.meta("generation") or "0"
        if current != self._generation:
            self.index = self._rebuild(self.index.dims, self.index.hnsw_threshold)
            self._generation = current

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` in a worker thread (SQLite and FAISS calls block)."""
        return await asyncio.to_thread(self.batch, list(ops))

    def _write(self, puts: list[PutOp], refresh: list[int], now: float) -> None:
        texts: list[tuple[int, str, str]] = []  # (put index, path, text)
        for n, op in enumerate(puts):
            if op.value is None or op.index is False or self.embedder is None:
                continue
            paths = self.fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
            for path, tokens in paths:
                found = get_text_at_path(op.value, tokens)
                texts += [
                    (n, f"{path}.{i}" if len(found) > 1 else path, t) for i, t in enumerate(found)
                ]
        vectors = self.embedder.embed([t for _, _, t in texts]) if texts and self.embedder else None
        removed: list[int] = []
        added: list[tuple[int, str, bytes]] = []
        row = 0
        self.items.db.execute("BEGIN IMMEDIATE")
        try:
            removed += self.items.expired(now)
            for n, op in enumerate(puts):
                if op.value is None:
                    removed += self.items.delete(op.namespace, op.key)
                    continue
                ttl = op.ttl if op.ttl is not None else None
                item_id, old = self.items.put(op.namespace, op.key, dict(op.value), ttl)
                removed += old
                while row < len(texts) and texts[row][0] == n:
                    assert vectors is not None
                    added.append((item_id, texts[row][1], vectors[row].tobytes()))
                    row += 1
            for item_id in refresh:
                self.items.refresh(item_id)
            new_ids = self.items.add_vectors(added)
            before = self.items.meta("generation") or "0"
            generation = str(int(before) + 1)
            self.items.set_meta(generation=generation)
            self.items.db.execute("COMMIT")
        except BaseException:
            self.items.db.execute("ROLLBACK")
            raise
        if before != self._generation:  # another process wrote in between: reload all
            self.index = self._rebuild(self.index.dims, self.index.hnsw_threshold)
            self._generation = generation
            return
        self._generation = generation
        self.index.remove(np.asarray(removed, np.int64))
        if added and vectors is not None:
            self.index.add(
                np.asarray(new_ids, np.int64), np.stack([vectors[i] for i in range(row)])
            )

    def _search(self, op: SearchOp, now: float) -> list[tuple[int, SearchItem]]:
        return search(self.items, self.index, self.embedder, self.exact_limit, op, now)

    def _list_namespaces(self, op: ListNamespacesOp, now: float) -> list[tuple[str, ...]]:
        names = [
            ns
            for ns in self.items.live_namespaces(now)
            if all(namespace_matches(c, ns) for c in op.match_conditions or ())
        ]
        if op.max_depth is not None:
            names = [ns[: op.max_depth] for ns in names]
        return sorted(set(names))[op.offset : op.offset + op.limit]

    def stats(self) -> dict[str, Any]:
        """Counts and index facts for `copydesk memory stats`."""
        with self._lock:
            return {
                "items": self.items.count("items"),
                "vectors": self.items.count("vectors"),
                "namespaces": len(self.items.live_namespaces(time.time())),
                "index": self.index.kind,
                "index_size": self.index.size,
                "embedder": self.items.meta("embedder"),
                "dims": int(self.items.meta("dims") or 0),
                "path": str(self.path) if self.path else None,
            }


def _arrays(ids: list[int], blobs: list[bytes], dims: int) -> tuple[Any, Any]:
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dims)
    return np.asarray(ids, np.int64), vectors
