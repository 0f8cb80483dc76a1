"""Search over `FaissStore`'s items: exact scoring of every candidate while the namespace is
small, FAISS approximate search past `exact_limit`, both with `InMemoryStore`'s ordering.

A search costs what matches it, not what the store holds: the candidates come from the
database's indexes as ids (`copydesk.memory._select`), their vectors from this process's
cache, and only the rows returned are read and decoded. An approximate search runs over an
index of the prefix's own vectors (`copydesk.memory._spaces`), not over the whole store's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langgraph.store.base import Item, SearchItem, SearchOp

from copydesk.memory._cache import IndexCache
from copydesk.memory._candidates import Candidates
from copydesk.memory._faiss import VectorIndex
from copydesk.memory._filters import matches
from copydesk.memory._items import ItemRow, ItemTable
from copydesk.memory._rows import VectorRows
from copydesk.memory._spaces import Spaces

if TYPE_CHECKING:
    from copydesk.memory._pg import PgItemTable
    from copydesk.memory._pg_rows import PgVectorRows

__all__ = ["search"]


def search(
    items: ItemTable | PgItemTable,
    rows: VectorRows | PgVectorRows,
    cache: IndexCache,
    query: Any | None,
    exact_limit: int,
    op: SearchOp,
    now: float,
    known: Candidates | None = None,
    spaces: Spaces | None = None,
) -> list[tuple[ItemRow, SearchItem]]:
    """(row, result) for a search ranked by the `query` vector (None: unranked), exact while
    its namespace holds up to `exact_limit` vectors, else approximate (over an index of the
    prefix's own vectors, from `spaces`). Call inside a read transaction.

    The database selects the candidates by namespace and filter through its indexes (ids
    only), or `known` has them with their vectors; they are ranked by vector; and only the
    rows returned are read and decoded.
    """
    wanted = op.offset + op.limit
    prefix = op.namespace_prefix
    found_vectors = None
    if known is not None and query is not None and not op.filter:
        pairs, found_vectors = known.get(
            prefix,
            lambda: items.candidates(prefix, now, None),
            lambda ids: cache.vectors(ids, rows.blobs),
            exact_limit,
        )
    else:
        pairs = items.candidates(prefix, now, op.filter)
    item_ids = pairs[:, 0]
    order = item_ids[np.r_[True, item_ids[1:] != item_ids[:-1]]] if len(pairs) else item_ids
    if query is None:
        found = _read(items, order.tolist(), op, now, wanted)[op.offset :]
        return [(r, _found(r, None)) for r in found]
    scored = pairs[pairs[:, 1] >= 0]
    if len(scored) > exact_limit:
        spaces = spaces if spaces is not None else Spaces(cache.dims, cache.index.hnsw_threshold)
        index = spaces.of(prefix, scored[:, 1], lambda ids: cache.vectors(ids, rows.blobs))
        return _approximate(items, rows, index, query, op, now, set(order.tolist()))
    if found_vectors is None:
        found_vectors = cache.vectors(scored[:, 1], rows.blobs)
    scores = _cosine(query, found_vectors)
    rank = np.argsort(-scores, kind="stable")  # ties keep namespace and insertion order
    ranked = scored[rank, 0]
    firsts = np.sort(np.unique(ranked, return_index=True)[1])  # an item at its best vector
    best = dict(zip(ranked[firsts].tolist(), scores[rank][firsts].tolist(), strict=True))
    ranked_rows = _read(items, list(best), op, now, wanted)[op.offset :]
    kept = [(r, _found(r, best[r.id])) for r in ranked_rows]
    unscored = order[~np.isin(order, ranked[firsts])].tolist()
    fill = _read(items, unscored, op, now, max(0, op.limit - len(kept)))
    return kept + [(r, _found(r, None)) for r in fill]


def _read(
    items: ItemTable | PgItemTable, ids: Sequence[int], op: SearchOp, now: float, count: int
) -> list[ItemRow]:
    """The first `count` of the items `ids` (in that order) that match `op.filter`, read a
    few at a time: only rows the filter might return are decoded."""
    out: list[ItemRow] = []
    start, step = 0, max(count, 1)
    while len(out) < count and start < len(ids):
        chunk = ids[start : start + step]
        found = items.by_ids(chunk, now)
        out += [found[i] for i in chunk if i in found and matches(found[i].item.value, op.filter)]
        start, step = start + step, 2 * step
    return out[:count]


def _approximate(
    items: ItemTable | PgItemTable,
    rows: VectorRows | PgVectorRows,
    index: VectorIndex,
    query: Any,
    op: SearchOp,
    now: float,
    candidates: set[int],
) -> list[tuple[ItemRow, SearchItem]]:
    """The prefix's `index` (its vectors only) searched for ever more neighbours until
    enough live items under the prefix that match the filter are found."""
    wanted = op.offset + op.limit
    k = max(4 * wanted, 32)
    while True:
        scores, vector_ids = index.search(np.asarray(query, np.float32), k)
        live = rows.items_of([int(v) for v in vector_ids if v >= 0])
        best: dict[int, float] = {}
        for score, vector_id in zip(scores, vector_ids, strict=True):
            item_id = live.get(int(vector_id))
            if item_id in candidates:  # under the prefix; others are never read
                best.setdefault(item_id, float(score))
        found = _read(items, list(best), op, now, wanted)
        if len(found) >= wanted or k >= index.size:
            return [(r, _found(r, best[r.id])) for r in found[op.offset :]]
        k *= 4


def _found(row: ItemRow, score: float | None) -> SearchItem:
    item: Item = row.item
    return SearchItem(
        namespace=item.namespace,
        key=item.key,
        value=item.value,
        created_at=item.created_at,
        updated_at=item.updated_at,
        score=score,
    )


def _cosine(query: Any, matrix: Any) -> Any:
    """Cosine similarity of each row with `query`. Embedders return L2-normalised rows
    (`copydesk.memory.embeddings.Embedder`), so a row's norm is 1 (or 0 for an empty text,
    whose dot product is 0 too): one float32 matrix-vector product, no copies."""
    query = np.asarray(query, np.float32)
    norm = float(np.linalg.norm(query))
    if len(matrix) == 0 or norm == 0:
        return np.zeros(len(matrix), np.float32)
    # einsum, not `@`: a matrix-vector product through BLAS wakes its threads, which spin on
    # a busy machine (measured 3.1 ms of CPU against einsum's 0.4 ms, 1,000 x 1,536, 2 cores).
    return np.einsum("ij,j->i", np.asarray(matrix, np.float32), query) / np.float32(norm)
