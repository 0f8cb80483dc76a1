"""`Tables`: a `FaissStore` batch applied to the source of truth and this process's index.

Once a batch's vectors are in hand (`copydesk.memory._plan`), it runs here under the store's
lock: its reads in one read transaction (gets, searches, namespace lists; the last put to a
key wins), then its writes in one write transaction (puts, deletes, expired items, TTL
refreshes), each with a new generation, and finally the same change applied to the
`IndexCache`. Texts a remote embedder has not embedded yet are written as waiting
(`pending`); `land` stores their vectors once a later batch has them. Every transaction
first catches the cache up with what other processes wrote (`sync`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from langgraph.store.base import GetOp, ListNamespacesOp, Op, PutOp, Result, SearchOp

from copydesk.memory._cache import IndexCache
from copydesk.memory._candidates import Candidates
from copydesk.memory._filters import namespace_matches
from copydesk.memory._items import ItemTable, index_mark
from copydesk.memory._pending import Backlog
from copydesk.memory._plan import Field, Plan, VectorCache, texts_of
from copydesk.memory._rows import VectorRows
from copydesk.memory._search import search
from copydesk.memory._spaces import Spaces

if TYPE_CHECKING:
    from copydesk.memory._pg import PgItemTable
    from copydesk.memory._pg_rows import PgVectorRows

__all__ = ["Tables"]


@dataclass(frozen=True)
class Tables:
    """The store's tables, its index cache and backlog, and the batch rules over them.

    The caller holds the store's lock around every method.
    """

    items: ItemTable | PgItemTable
    rows: VectorRows | PgVectorRows
    cache: IndexCache
    backlog: Backlog
    fields: Sequence[Field]
    """JSON paths of a value to index."""
    queries: VectorCache
    """Vectors of recent search queries (a put of the same text reuses one)."""
    exact_limit: int
    """Vectors up to which searches score every candidate exactly."""
    semantic: bool
    """True with an embedder: puts are indexed and a search needs its query's vector."""
    bounds: Sequence[tuple[tuple[str, ...], int]] = ()
    """(prefix, capacity): each namespace under `prefix` keeps at most `capacity` items,
    the least recently recalled or written going first."""
    recalls: dict[int, float] = field(default_factory=dict)
    """When items of bounded namespaces were last recalled, written with the next batch."""
    kept: Candidates = field(default_factory=Candidates)
    """Candidate ids and vectors of the largest prefixes searched."""
    spaces: Spaces | None = None
    """Indexes of the prefixes searched approximately (made with the store's dims)."""

    def __post_init__(self) -> None:
        if self.spaces is None:
            index = self.cache.index
            object.__setattr__(self, "spaces", Spaces(index.dims, index.hnsw_threshold))

    def capacity(self, namespace: tuple[str, ...]) -> int | None:
        """The bound on `namespace`, if any."""
        for prefix, capacity in self.bounds:
            if namespace[: len(prefix)] == prefix:
                return capacity
        return None

    def sync(self) -> None:
        """Catch the cache (and the backlog) up with the tables; inside a transaction."""
        current = self.items.generation()
        if current != self.cache.generation:  # another process wrote
            self.kept.clear()
            if current < self.cache.generation and self.spaces is not None:  # made anew
                self.spaces.clear()
            self.cache.catch_up(self.rows, current)
            self.backlog.refresh(self.rows.waiting(self.backlog.size))

    def land(self, work: Plan) -> int:
        """Store the vectors of the backlog texts this batch embedded; return how many."""
        done = [row for row in work.backlog if row[3] in work.vectors]
        if not done:
            return 0
        with self.items.write():
            self.sync()
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
        self.kept.forget(items=[row[1] for row in found])
        self.backlog.settled(found)
        return len(found)

    def run(self, ops: Sequence[Op], work: Plan) -> list[Result]:
        """Run the batch: its reads, then its writes; one result per operation.

        Raises:
            Exception: The embedder's error (or a RuntimeError) when a search had no vector
                for its query; the batch's writes are in by then.
        """
        now = time.time()
        results: list[Result] = []
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        refresh: list[int] = []
        failed = False
        with self.items.read():
            self.sync()
            for op in ops:
                if isinstance(op, GetOp):
                    row = self.items.get(op.namespace, op.key, now)
                    results.append(row.item if row else None)
                    if row and row.has_ttl and op.refresh_ttl:
                        refresh.append(row.id)
                elif isinstance(op, SearchOp):
                    query = work.vectors.get(op.query) if op.query else None
                    if op.query and self.semantic and query is None:
                        failed = True
                        results.append([])
                        continue
                    found = search(
                        self.items,
                        self.rows,
                        self.cache,
                        query,
                        self.exact_limit,
                        op,
                        now,
                        self.kept,
                        self.spaces,
                    )
                    results.append([item for _, item in found])
                    if self.bounds:
                        self.recalls.update(
                            (row.id, now) for row, _ in found if self.capacity(row.namespace)
                        )
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
            self.sync()
            generation = self.items.generation() + 1
            gone = self.items.expired(now)
            dropped = self.rows.drop(gone, generation) if gone else []
            for op in puts:
                if op.value is None:
                    item_id = self.items.delete(op.namespace, op.key)
                    gone += [item_id] if item_id is not None else []
                    dropped += self.rows.drop([item_id], generation) if item_id else []
                    continue
                item_id, existed = self.items.put(
                    op.namespace, op.key, dict(op.value), op.ttl, index_mark(op.index)
                )
                if existed:
                    dropped += self.rows.drop([item_id], generation)
                for path, text in texts_of(op, self.fields) if self.semantic else []:
                    vector = work.vectors.get(text)
                    if vector is None:
                        vector = self.queries.get(text)
                    if vector is None:
                        waiting.append((item_id, path, text))
                    else:
                        added.append((item_id, path, _bytes(vector)))
                        vectors.append(vector)
            if self.recalls:  # one write for the recalls since the last batch
                self.items.used(self.recalls)
                self.recalls.clear()
            for namespace in {op.namespace for op in puts if op.value is not None}:
                capacity = self.capacity(namespace)
                evicted = [] if capacity is None else self.items.evict(namespace, capacity)
                if evicted:  # ones put by this batch too, when it alone overfills
                    gone += evicted
                    dropped += self.rows.drop(evicted, generation)
                    keep = [n for n, row in enumerate(added) if row[0] not in evicted]
                    added, vectors = [added[n] for n in keep], [vectors[n] for n in keep]
                    waiting = [row for row in waiting if row[0] not in evicted]
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
            self.kept.forget(namespaces=[op.namespace for op in puts])

    def _list_namespaces(self, op: ListNamespacesOp, now: float) -> list[tuple[str, ...]]:
        names = [
            ns
            for ns in self.items.live_namespaces(now)
            if all(namespace_matches(c, ns) for c in op.match_conditions or ())
        ]
        if op.max_depth is not None:
            names = [ns[: op.max_depth] for ns in names]
        return sorted(set(names))[op.offset : op.offset + op.limit]


def _bytes(vector: Any) -> bytes:
    return np.asarray(vector, np.float32).tobytes()
