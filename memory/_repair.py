"""Vector rows that cannot be read (the wrong length) or are missing are re-embedded from
their items, so a damaged store still opens, searches and loses nothing.

The items are the source of truth and every vector is derived from one of them: an item
whose vector row has another length than the store's dimensions, or that has texts to index
but neither a vector nor a text waiting for one, has its vectors dropped (logged, so every
process's index forgets them) and its texts queued (`pending`), to be embedded with the
store's next request like any other waiting text. The store says so once, in one warning.
Known limit: an item put with `index=False` has no vector by choice, and the store keeps no
mark of that choice, so this repair takes it for a lost vector and embeds it. The store
checks when it builds its index from every row anyway (no saved index, or a damaged one): a
store that opens a sound saved index reads no row and is not slowed down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from langgraph.store.base import PutOp

from copydesk.memory._items import ItemTable
from copydesk.memory._plan import Field, texts_of
from copydesk.memory._rows import VectorRows

__all__ = ["repair_vectors"]

log = logging.getLogger("copydesk.memory")

_DAMAGED = "SELECT DISTINCT item_id FROM vectors WHERE length(vec) != ?"
_UNINDEXED = (
    "SELECT id FROM items WHERE NOT EXISTS (SELECT 1 FROM vectors WHERE item_id = items.id) "
    "AND NOT EXISTS (SELECT 1 FROM pending WHERE item_id = items.id)"
)


def repair_vectors(
    items: ItemTable, rows: VectorRows, dims: int, fields: Sequence[Field], where: str
) -> int:
    """Queue the items of damaged or missing vector rows for embedding; return how many.

    Reads first, and writes (one transaction) only when something is to be repaired.
    """
    with items.read():
        damaged = [int(r[0]) for r in rows.db.execute(_DAMAGED, (dims * 4,))]
        bare = [int(r[0]) for r in rows.db.execute(_UNINDEXED)]
    if not damaged and not bare:
        return 0
    with items.write():
        values = _values(items, [*damaged, *bare])
        queued = [(i, p, t) for i in damaged + bare for p, t in _texts(values.get(i), fields)]
        missing = {i for i, _, _ in queued} - set(damaged)
        if not damaged and not missing:
            return 0  # items with nothing to index: nothing is missing
        generation = items.generation() + 1
        rows.drop([*damaged, *missing], generation)
        rows.wait([row for row in queued if row[0] in missing or row[0] in damaged])
        items.set_meta(generation=str(generation))
    log.warning(
        "the memory store %s had %d damaged and %d missing vector(s); their %d item(s) are "
        "embedded again from their text with the next request (nothing is lost)",
        where,
        len(damaged),
        len(missing),
        len(damaged) + len(missing),
    )
    return len(damaged) + len(missing)


def _values(items: ItemTable, ids: Sequence[int]) -> dict[int, object]:
    found: dict[int, object] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        query = f"SELECT id, value FROM items WHERE id IN ({marks})"
        for item_id, value in items.db.execute(query, chunk):
            found[int(item_id)] = json.loads(value)
    return found


def _texts(value: object, fields: Sequence[Field]) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return []
    return texts_of(PutOp(namespace=(), key="", value=value), fields)
