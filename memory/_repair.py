"""Vector rows that cannot be read (the wrong length) or are missing are re-embedded from
their items, so a damaged store still opens, searches and loses nothing.

The items are the source of truth and every vector is derived from one of them: an item
whose vector row has another length than the store's dimensions, or that has texts to index
but neither a vector nor a text waiting for one, has its vectors dropped (logged, so every
process's index forgets them) and its texts queued (`pending`), to be embedded with the
store's next request like any other waiting text. The store says so once, in one warning.

Each item's row keeps the `index` it was put with (`copydesk.memory._items.index_mark`): an
item put with `index=False` has no vector by choice and is left alone, and one put with its
own paths is embedded again at those paths. A row written before the mark existed (0.1.0's)
is taken as put with the store's fields, as that release did: if its vector is missing it is
embedded again (an item an earlier release put with `index=False` costs one embedding, once;
a lost vector is never left lost). The store checks when it builds its index from every row
anyway (no saved index, or a damaged one; always on PostgreSQL, whose index is each
process's cache): a store that opens a sound saved index reads no row and is not slowed down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from langgraph.store.base import PutOp

from copydesk.memory._items import ItemTable, Marked
from copydesk.memory._plan import Field, texts_of
from copydesk.memory._rows import VectorRows

if TYPE_CHECKING:
    from copydesk.memory._pg import PgItemTable
    from copydesk.memory._pg_rows import PgVectorRows

__all__ = ["repair_vectors"]

log = logging.getLogger("copydesk.memory")


def repair_vectors(
    items: ItemTable | PgItemTable,
    rows: VectorRows | PgVectorRows,
    dims: int,
    fields: Sequence[Field],
    where: str,
) -> int:
    """Queue the items of damaged or missing vector rows for embedding; return how many.

    Reads first, and writes (one transaction, which reads again under the write lock) only
    when something is to be repaired.
    """
    with items.read():
        damaged, bare = rows.unvectored(dims)
    if not damaged and not bare:
        return 0
    with items.write():
        damaged, bare = rows.unvectored(dims)  # again: another process may have repaired
        values = items.marked([*damaged, *bare])
        queued = [(i, p, t) for i in damaged + bare for p, t in _texts(values[i], fields)]
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


def _texts(found: Marked, fields: Sequence[Field]) -> list[tuple[str, str]]:
    value, paths = found
    return texts_of(PutOp(namespace=(), key="", value=value, index=paths), fields)
