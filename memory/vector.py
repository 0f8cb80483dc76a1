"""`FaissStore`: a LangGraph `BaseStore` with FAISS semantic search, persisted without pickle.

Items, their vectors, texts waiting for a vector and TTLs live in SQLite (`items.sqlite`),
the source of truth, one transaction per batch. Each process keeps the vectors in a FAISS
index (`copydesk.memory._cache.IndexCache`), a cache that catches up with what other processes wrote
by reading only the changes since the generation it reflects; it is saved atomically on
`flush()`/`close()` (`vectors.faiss`, FAISS's own format) with its sha256 and generation, and a
missing or damaged file is rebuilt from SQLite, so a crash never leaves search silently wrong.
Every read runs in one SQLite read transaction, so the catch-up and the candidates it reads
see the same moment; only items with a TTL make a read write.

A batch embeds in three steps (`copydesk.memory._plan`): plan the texts, embed them with no lock
held
(`abatch` awaits the embedder, so a network call blocks neither other conversations nor the
event loop), then apply the batch under the lock. A remote embedder's new texts wait
(`pending`) and ride with the next search's request; a failed request leaves them waiting,
so nothing is lost, and the item is found (unscored) at once and scored once embedded.

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
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langgraph.store.base import (
    BaseStore,
    GetOp,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
)
from langgraph.store.base.embed import tokenize_path

from copydesk.memory._cache import IndexCache
from copydesk.memory._faiss import FAISS_FROM, VectorIndex
from copydesk.memory._filters import namespace_matches
from copydesk.memory._items import ItemTable
from copydesk.memory._pending import Backlog
from copydesk.memory._plan import Plan, VectorCache, chunks, plan, texts_of
from copydesk.memory._rows import VectorRows

if TYPE_CHECKING:
    from copydesk.memory._pg import PgItemTable
    from copydesk.memory._pg_rows import PgVectorRows
from copydesk.memory._search import search
from copydesk.memory.embeddings import Embedder, EmbedderMismatchError

__all__ = ["FaissStore"]

log = logging.getLogger("copydesk.memory")

INDEX_FILE, ITEMS_FILE = "vectors.faiss", "items.sqlite"
LOG_KEPT = 100_000
"""Generations of dropped-vector log kept; a cache further behind rebuilds."""


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
        self._check_embedder()
        self.cache = IndexCache(
            embedder.dims if embedder else 1, hnsw_threshold=hnsw_threshold, faiss_from=faiss_from
        )
        self.backlog = Backlog()
        with self._lock, self.items.read():
            self._open_index()
            self._sync()

    @property
    def index(self) -> VectorIndex:
        """The FAISS index of this process."""
        return self.cache.index

    def _check_embedder(self) -> None:
        if self.embedder is None:
            return
        name, dims = self.items.meta("embedder"), self.items.meta("dims")
        if name is None or (
            (name != self.embedder.name or int(dims or 0) != self.embedder.dims)
            and self.items.count("vectors") == 0
        ):
            # First use, or stamped by a run that never wrote a vector (one that failed at
            # once, say): nothing was indexed with the old embedder, so this one takes over.
            self.items.set_meta(embedder=self.embedder.name, dims=str(self.embedder.dims))
        elif name != self.embedder.name or int(dims or 0) != self.embedder.dims:
            raise EmbedderMismatchError(
                f"the memory at {self.path or 'COPYDESK_STORE_URL'} was indexed with {name} "
                f"({dims} dims) but this run "
                f"embeds with {self.embedder.name} ({self.embedder.dims} dims); use the same "
                "embedder, or clear it with `copydesk memory forget --all`"
            )

    def _open_index(self) -> None:
        if self.path is None:
            return
        sha, saved = self.items.meta("index_sha256"), self.items.meta("index_generation")
        if sha == "":
            return  # a small index is not saved: it is read back from SQLite by design
        if sha is not None and saved is not None and int(saved) <= self.items.generation():  # noqa: SIM102
            if self.cache.load(self.path / INDEX_FILE, sha256=sha, generation=int(saved)):
                return
        self.rebuilt = self.items.count("vectors") > 0
        if self.rebuilt and (self.path / INDEX_FILE).exists():
            log.warning(
                "the memory index %s was damaged or out of date; rebuilt it from %s",
                self.path / INDEX_FILE,
                self.path / ITEMS_FILE,
            )

    def _sync(self) -> None:
        """Catch the cache (and the backlog) up with SQLite; inside a transaction."""
        current = self.items.generation()
        if current != self.cache.generation:
            self.cache.catch_up(self.rows, current)
            self.backlog.refresh(self.rows.waiting(self.backlog.size))

    def flush(self) -> None:
        """Save the FAISS index (atomically) and record what it reflects."""
        if self.path is None:
            return
        with self._lock, self.items.write():
            self._sync()
            if self.index.dead > self.index.size // 2:
                self.index.compact(np.asarray(self.rows.all_ids(), np.int64))
            elif self._saved_index_is_current():
                return  # a command that only read leaves the files as they were
            digest = self.index.save(self.path / INDEX_FILE)
            self.items.set_meta(index_sha256=digest, index_generation=str(self.cache.generation))
            self.rows.trim_log(self.cache.generation - LOG_KEPT)

    def _saved_index_is_current(self) -> bool:
        """True when the index file on disk already reflects every item."""
        return (
            self.path is not None
            and not self.rebuilt
            and self.items.meta("index_generation") == str(self.cache.generation)
            and (self.path / INDEX_FILE).exists()
        )

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
            if text in queries:
                self.queries.put(text, vector)

    def _apply(self, ops: Sequence[Op], work: Plan) -> list[Result]:
        try:
            with self._lock:
                self._land(work)
                return self._run(ops, work)
        finally:
            self.backlog.release(work.backlog)

    def _land_claimed(self, work: Plan) -> int:
        try:
            with self._lock:
                return self._land(work)
        finally:
            self.backlog.release(work.backlog)

    def _land(self, work: Plan) -> int:
        """Store the vectors of the backlog texts this batch embedded."""
        done = [row for row in work.backlog if row[3] in work.vectors]
        if not done:
            return 0
        with self.items.write():
            self._sync()
            found = self.rows.settle([row[0] for row in done])  # still waiting: not replaced
            if not found:
                return 0
            generation = self.items.generation() + 1
            ids = self.rows.add(
                [(item, path, _bytes(work.vectors[text])) for _, item, path, text in found],
                generation,
            )
            self.items.set_meta(generation=str(generation))
        self.cache.apply(ids, np.stack([work.vectors[r[3]] for r in found]), [], generation)
        self.backlog.settled(found)
        return len(found)

    def _run(self, ops: Sequence[Op], work: Plan) -> list[Result]:
        now = time.time()
        results: list[Result] = []
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        refresh: list[int] = []
        failed = False
        with self.items.read():
            self._sync()
            for op in ops:
                if isinstance(op, GetOp):
                    row = self.items.get(op.namespace, op.key, now)
                    results.append(row.item if row else None)
                    if row and row.has_ttl and op.refresh_ttl:
                        refresh.append(row.id)
                elif isinstance(op, SearchOp):
                    query = work.vectors.get(op.query) if op.query else None
                    if op.query and self.embedder is not None and query is None:
                        failed = True
                        results.append([])
                        continue
                    found = search(
                        self.items, self.rows, self.cache, query, self.exact_limit, op, now
                    )
                    results.append([item for _, item in found])
                    if op.refresh_ttl:
                        refresh += [row.id for row, _ in found if row.has_ttl]
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op, now))
                elif isinstance(op, PutOp):
                    puts[(op.namespace, op.key)] = op
                    results.append(None)
                else:
                    raise ValueError(f"unknown store operation {type(op).__name__}")
        if puts or refresh:
            self._write(list(puts.values()), refresh, now, work)
        if failed:  # the writes are in; the searches could not be ranked
            raise work.error or RuntimeError("no vector for a search query")
        return results

    def _write(self, puts: list[PutOp], refresh: list[int], now: float, work: Plan) -> None:
        added: list[tuple[int, str, bytes]] = []
        vectors: list[Any] = []
        waiting: list[tuple[int, str, str]] = []
        with self.items.write():
            self._sync()
            generation = self.items.generation() + 1
            gone = self.items.expired(now)
            dropped = self.rows.drop(gone, generation) if gone else []
            for op in puts:
                if op.value is None:
                    item_id = self.items.delete(op.namespace, op.key)
                    gone += [item_id] if item_id is not None else []
                    dropped += self.rows.drop([item_id], generation) if item_id else []
                    continue
                item_id, existed = self.items.put(op.namespace, op.key, dict(op.value), op.ttl)
                if existed:
                    dropped += self.rows.drop([item_id], generation)
                for path, text in texts_of(op, self.fields) if self.embedder else []:
                    vector = work.vectors.get(text)
                    if vector is None:
                        vector = self.queries.get(text)
                    if vector is None:
                        waiting.append((item_id, path, text))
                    else:
                        added.append((item_id, path, _bytes(vector)))
                        vectors.append(vector)
            if refresh:
                self.items.refresh(refresh)
            changed = bool(puts or gone)
            if changed:
                ids = self.rows.add(added, generation)
                self.rows.wait(waiting)
                self.items.set_meta(generation=str(generation))
                if waiting or dropped:
                    self.backlog.refresh(self.rows.waiting(self.backlog.size))
        if changed:
            stacked = np.stack(vectors) if vectors else np.empty((0, self.cache.dims))
            self.cache.apply(ids, stacked, dropped, generation)

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


def _bytes(vector: Any) -> bytes:
    return np.asarray(vector, np.float32).tobytes()
