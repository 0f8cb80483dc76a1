"""`FaissStore`: a LangGraph `BaseStore` with FAISS semantic search, persisted without pickle.

Items, their vectors, texts waiting for a vector and TTLs live in SQLite (`items.sqlite`),
the source of truth, one transaction per batch. Each process keeps the vectors in a FAISS
index (`copydesk.memory._cache.IndexCache`), a cache that catches up with what other
processes wrote by reading only the changes since the generation it reflects; it is saved
atomically on `flush()`/`close()` (`vectors.faiss`, FAISS's own format) with its sha256 and
generation, and a missing or damaged file is rebuilt from SQLite, so a crash never leaves
search silently wrong (`copydesk.memory._saved`).
Every read runs in one SQLite read transaction, so the catch-up and the candidates it reads
see the same moment; only items with a TTL make a read write.

A batch embeds in three steps: plan the texts (`copydesk.memory._plan`), embed them with no
lock held (`abatch` awaits the embedder, so a network call blocks neither other conversations
nor the event loop), then apply the batch under the lock (`copydesk.memory._apply`). A remote
embedder's new texts wait (`pending`) and ride with the next search's request; a failed
request leaves them waiting, so nothing is lost, and the item is found (unscored) at once
and scored once embedded.

Semantics follow LangGraph's `InMemoryStore` (the reference the tests compare against):
reads in a batch see the state before the batch's writes, the last write to a key in a batch
wins, search without a query returns items in namespace then insertion order, search with a
query ranks by cosine similarity (max over an item's indexed fields) and fills up with
unindexed items. Differences: TTL is supported, and `list_namespaces` lists only namespaces
that hold items. While the namespaces searched hold at most `exact_limit` vectors the search
is exact; past it, it is approximate (HNSW) and does not fill with unindexed items. A search
reads only the rows under its prefix (`copydesk.memory._search`), so its cost does not grow
with other namespaces. Namespaces that grow with the number of users can be `bounds`ed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langgraph.store.base import BaseStore, Op, Result, TTLConfig
from langgraph.store.base.embed import tokenize_path

from copydesk.memory._apply import Tables
from copydesk.memory._cache import IndexCache
from copydesk.memory._faiss import FAISS_FROM, VectorIndex
from copydesk.memory._items import ItemTable
from copydesk.memory._pending import Backlog
from copydesk.memory._plan import Plan, VectorCache, chunks, plan
from copydesk.memory._repair import repair_vectors
from copydesk.memory._rows import VectorRows
from copydesk.memory._saved import ITEMS_FILE, check_embedder, load_index, save_index
from copydesk.memory.embeddings import Embedder

if TYPE_CHECKING:
    from copydesk.memory._pg import PgItemTable
    from copydesk.memory._pg_rows import PgVectorRows

__all__ = ["FaissStore"]


class FaissStore(BaseStore):
    """Namespaced items with semantic search over FAISS.

    Args:
        path: Directory for `items.sqlite` and `vectors.faiss`; None keeps all in memory.
        embedder: Embeds indexed text; None disables semantic search.
        fields: JSON paths of the value to index (`$` is the whole value).
        ttl: TTL defaults (`default_ttl` minutes, `refresh_on_read`).
        hnsw_threshold: Vectors past which the index becomes HNSW.
        exact_limit: Vectors up to which searches score every candidate exactly.
        faiss_from: Vectors past which the index moves from a NumPy array into FAISS (and
            `vectors.faiss` is saved); below it FAISS is not loaded at all.
        bounds: (prefix, capacity) pairs: every namespace under `prefix` keeps at most
            `capacity` items; a put past it removes the least recently recalled or written.

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
        url: str | None = None,
        faiss_from: int = FAISS_FROM,
        bounds: Sequence[tuple[tuple[str, ...], int]] = (),
    ) -> None:
        self.path = None if url else path
        self.url = url
        self.embedder = embedder
        self.fields = [(f, f if f == "$" else tokenize_path(f)) for f in fields]
        self.ttl_config = ttl
        self.exact_limit = exact_limit
        self.rebuilt = False
        """True when the index file was missing or damaged and was rebuilt at open."""
        self.queries = VectorCache()
        """Vectors of recent search queries."""
        self._lock = threading.RLock()
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        self.items: ItemTable | PgItemTable
        self.rows: VectorRows | PgVectorRows
        if url:  # PostgreSQL is the source of truth; the index is this process's cache only
            from copydesk.memory._pg import PgItemTable
            from copydesk.memory._pg_rows import PgVectorRows

            self.items = PgItemTable(url)
            self.rows = PgVectorRows(self.items.db)
        else:
            self.items = ItemTable(path / ITEMS_FILE if path else None)
            self.rows = VectorRows(self.items.db)
        if embedder is not None:
            check_embedder(self.items, embedder, str(self.path or "COPYDESK_STORE_URL"))
        # Without an embedder the saved vectors are still loaded, at the length they were made.
        dims = embedder.dims if embedder else int(self.items.meta("dims") or 1)
        self.cache = IndexCache(dims, hnsw_threshold=hnsw_threshold, faiss_from=faiss_from)
        self.backlog = Backlog()
        self._tables = Tables(
            self.items,
            self.rows,
            self.cache,
            self.backlog,
            self.fields,
            self.queries,
            exact_limit,
            semantic=embedder is not None,
            bounds=bounds,
        )
        with self._lock, self.items.read():
            if self.path is not None:
                self.rebuilt = load_index(self.items, self.cache, self.path)
        if embedder is not None and self.cache.generation < 0:  # every row is read: check them
            self._repair(embedder.dims)
        with self._lock, self.items.read():
            self._tables.sync()

    def _repair(self, dims: int) -> None:
        """Embed again, from their items, the vectors whose rows are damaged or missing."""
        if self.url:
            where = "at COPYDESK_STORE_URL"
        else:
            where = str(self.path / ITEMS_FILE) if self.path else "in memory"
        repair_vectors(self.items, self.rows, dims, self.fields, where)

    @property
    def index(self) -> VectorIndex:
        """The FAISS index of this process."""
        return self.cache.index

    def flush(self) -> None:
        """Save the FAISS index (atomically) and record what it reflects."""
        if self.path is None:
            return
        with self._lock, self.items.write():
            self._tables.sync()
            save_index(self.items, self.rows, self.cache, self.path, rebuilt=self.rebuilt)

    def close(self) -> None:
        """Flush and close the database (texts still waiting for a vector stay waiting)."""
        self.flush()
        self.items.close()

    # BaseStore

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Embed what the batch needs (blocking), then run it: reads, then writes."""
        ops = list(ops)
        work = self._plan(ops)
        if work.texts and self.embedder is not None:
            try:
                for part in chunks(work.texts):
                    self._embedded(work, part, self.embedder.embed(part))
            except Exception as error:  # the batch still runs; its searches raise it
                work.error = error
        return self._apply(ops, work)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Embed what the batch needs (awaited, no lock held), then run it in a thread."""
        ops = list(ops)
        work = self._plan(ops)
        if work.texts and self.embedder is not None:
            try:
                for part in chunks(work.texts):
                    self._embedded(work, part, await self.embedder.aembed(part))
            except Exception as error:  # the batch still runs; its searches raise it
                work.error = error
        return await asyncio.to_thread(self._apply, ops, work)

    async def aembed_pending(self) -> int:
        """Embed every text still waiting (in requests of up to 256); return how many landed.

        Raises:
            Exception: The embedder's error; the texts keep waiting.
        """
        landed = 0
        while self.embedder is not None:
            await asyncio.to_thread(self._refresh_backlog)
            work = Plan(backlog=self.backlog.claim())
            if not work.backlog:
                return landed
            work.texts = list(dict.fromkeys(row[3] for row in work.backlog))
            try:
                for part in chunks(work.texts):
                    self._embedded(work, part, await self.embedder.aembed(part))
            except BaseException:
                self.backlog.release(work.backlog)
                raise
            landed += await asyncio.to_thread(self._land_claimed, work)
        return landed

    def _refresh_backlog(self) -> None:
        with self._lock, self.items.read():
            self.backlog.refresh(self.rows.waiting(self.backlog.size))

    def _plan(self, ops: Sequence[Op]) -> Plan:
        if self.embedder is None:
            return Plan()
        claimed = self.backlog.claim()
        work = plan(ops, self.queries, claimed, self.fields, embed_puts=not self.embedder.remote)
        if not work.backlog:
            self.backlog.release(claimed)
        return work

    def _embedded(self, work: Plan, texts: Sequence[str], vectors: Any) -> None:
        queries = set(work.queries)
        for text, vector in zip(texts, vectors, strict=True):
            work.vectors[text] = vector
            if text in queries:  # its own copy: a row view would keep the whole reply alive
                self.queries.put(text, np.array(vector, np.float32))

    def _apply(self, ops: Sequence[Op], work: Plan) -> list[Result]:
        try:
            with self._lock:
                self._tables.land(work)
                return self._tables.run(ops, work)
        finally:
            self.backlog.release(work.backlog)

    def _land_claimed(self, work: Plan) -> int:
        try:
            with self._lock:
                return self._tables.land(work)
        finally:
            self.backlog.release(work.backlog)

    def stats(self) -> dict[str, Any]:
        """Counts and index facts for `copydesk memory stats`."""
        with self._lock, self.items.read():
            return {
                "items": self.items.count("items"),
                "vectors": self.items.count("vectors"),
                "pending": self.items.count("pending"),
                "namespaces": len(self.items.live_namespaces(time.time())),
                "index": self.index.kind,
                "index_size": self.index.size,
                "embedder": self.items.meta("embedder"),
                "dims": int(self.items.meta("dims") or 0),
                "path": str(self.path) if self.path else None,
            }
