"""Search over `FaissStore`'s items: exact scoring of every candidate while the index is
small, FAISS approximate search past `exact_limit`, both with `InMemoryStore`'s ordering."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from langgraph.store.base import Item, SearchItem, SearchOp

from copydesk.memory._cache import IndexCache
from copydesk.memory._filters import matches
from copydesk.memory._items import ItemRow, ItemTable
from copydesk.memory._rows import VectorRows

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
) -> list[tuple[ItemRow, SearchItem]]:
    """(row, result) for a search ranked by the `query` vector (None: unranked), exact up to
    `exact_limit` vectors, else approximate. Call inside a read transaction."""
    wanted = op.offset + op.limit
    if query is not None and cache.index.size > exact_limit:
        return _approximate(items, rows, cache, query, op, now)
    candidates = [
        r for r in items.under(op.namespace_prefix, now) if matches(r.item.value, op.filter)
    ]
    if query is None or not candidates:
        return [(r, _found(r, None)) for r in candidates[op.offset : wanted]]
    pairs = rows.of_items([r.id for r in candidates])
    vectors = cache.vectors([v for v, _ in pairs], rows.blobs)
    scores = _cosine(np.asarray(query, np.float64), vectors.astype(np.float64))
    by_id = {r[0]: r for r in candidates}
    ranked = sorted(zip(scores, (i for _, i in pairs), strict=True), key=lambda s: -s[0])
    kept: list[tuple[ItemRow, SearchItem]] = []
    seen: set[int] = set()
    for score, item_id in ranked:
        if item_id in seen:
            continue
        seen.add(item_id)
        if len(seen) > wanted:
            break
        if len(seen) > op.offset:
            kept.append((by_id[item_id], _found(by_id[item_id], float(score))))
    scored = {i for _, i in pairs}
    unscored = [r for r in candidates if r.id not in scored]
    kept += [(r, _found(r, None)) for r in unscored[: max(0, op.limit - len(kept))]]
    return kept


def _approximate(
    items: ItemTable | PgItemTable,
    rows: VectorRows | PgVectorRows,
    cache: IndexCache,
    query: Any,
    op: SearchOp,
    now: float,
) -> list[tuple[ItemRow, SearchItem]]:
    index = cache.index
    wanted = op.offset + op.limit
    k = max(4 * wanted, 32)
    while True:
        scores, vector_ids = index.search(np.asarray(query, np.float32), k)
        live = rows.items_of([int(v) for v in vector_ids if v >= 0])
        found_rows = items.by_ids(sorted(set(live.values())), now)
        kept: list[tuple[ItemRow, SearchItem]] = []
        seen: set[int] = set()
        for score, vector_id in zip(scores, vector_ids, strict=True):
            item_id = live.get(int(vector_id))
            found = found_rows.get(item_id) if item_id is not None else None
            if found is None or item_id in seen:
                continue
            if found.namespace[: len(op.namespace_prefix)] != op.namespace_prefix:
                continue
            if not matches(found.item.value, op.filter):
                continue
            seen.add(found.id)
            kept.append((found, _found(found, float(score))))
        if len(kept) >= wanted or k >= index.size:
            return kept[op.offset : wanted]
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


def _cosine(query: Any, matrix: Any) -> list[float]:
    if len(matrix) == 0:
        return []
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    dots = matrix @ query
    out = np.zeros(len(matrix))
    mask = norms != 0
    out[mask] = dots[mask] / norms[mask]
    return [float(x) for x in out]
