"""Search over `FaissStore`'s items: exact scoring of every candidate while the index is
small, FAISS approximate search past `exact_limit`, both with `InMemoryStore`'s ordering."""

from __future__ import annotations

from typing import Any

import numpy as np
from langgraph.store.base import Item, SearchItem, SearchOp

from memory._faiss import VectorIndex
from memory._filters import matches
from memory._items import ItemRow, ItemTable
from memory.embeddings import Embedder

__all__ = ["search"]


def search(
    items: ItemTable,
    index: VectorIndex,
    embedder: Embedder | None,
    exact_limit: int,
    op: SearchOp,
    now: float,
) -> list[tuple[int, SearchItem]]:
    """(item id, result) for a search: exact up to `exact_limit` vectors, else approximate."""
    wanted = op.offset + op.limit
    if op.query and embedder is not None and index.size > exact_limit:
        return _approximate(items, index, embedder, op, now)
    candidates = [
        r for r in items.under(op.namespace_prefix, now) if matches(r[2].value, op.filter)
    ]
    if not (op.query and embedder is not None) or not candidates:
        return [(r[0], _found(r, None)) for r in candidates[op.offset : wanted]]
    query = embedder.embed([op.query])[0].astype(np.float64)
    pairs = items.vectors_of([r[0] for r in candidates])
    vectors = index.reconstruct(np.asarray([v for v, _ in pairs], np.int64))
    scores = _cosine(query, vectors.astype(np.float64))
    by_id = {r[0]: r for r in candidates}
    ranked = sorted(zip(scores, (i for _, i in pairs), strict=True), key=lambda s: -s[0])
    kept: list[tuple[int, SearchItem]] = []
    seen: set[int] = set()
    for score, item_id in ranked:
        if item_id in seen:
            continue
        seen.add(item_id)
        if len(seen) > wanted:
            break
        if len(seen) > op.offset:
            kept.append((item_id, _found(by_id[item_id], float(score))))
    scored = {i for _, i in pairs}
    unscored = [r for r in candidates if r[0] not in scored]
    kept += [(r[0], _found(r, None)) for r in unscored[: max(0, op.limit - len(kept))]]
    return kept


def _approximate(
    items: ItemTable, index: VectorIndex, embedder: Embedder, op: SearchOp, now: float
) -> list[tuple[int, SearchItem]]:
    assert embedder is not None and op.query
    query = embedder.embed([op.query])[0]
    wanted = op.offset + op.limit
    k = max(4 * wanted, 32)
    while True:
        scores, vector_ids = index.search(query, k)
        live = items.vector_items([int(v) for v in vector_ids if v >= 0])
        rows = items.by_ids(sorted(set(live.values())), now)
        kept: list[tuple[int, SearchItem]] = []
        seen: set[int] = set()
        for score, vector_id in zip(scores, vector_ids, strict=True):
            item_id = live.get(int(vector_id))
            found = rows.get(item_id) if item_id is not None else None
            if found is None or item_id in seen:
                continue
            if found[1][: len(op.namespace_prefix)] != op.namespace_prefix:
                continue
            if not matches(found[2].value, op.filter):
                continue
            seen.add(found[0])
            kept.append((found[0], _found(found, float(score))))
        if len(kept) >= wanted or k >= index.size:
            return kept[op.offset : wanted]
        k *= 4


def _found(row: ItemRow, score: float | None) -> SearchItem:
    item: Item = row[2]
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
