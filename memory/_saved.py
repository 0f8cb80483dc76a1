"""What a `FaissStore` keeps beside its items: the embedder stamp and the saved index file.

The meta record names the embedder (and its dims) the vectors were made with, so a run with
another embedder is refused rather than searching with vectors it cannot compare. The index
is saved as `vectors.faiss` (FAISS's own format, no pickle) with its sha256 and the
generation it reflects; at open a file that is missing, damaged or ahead of the tables is
rebuilt from them (one warning when it existed). A small index is not saved at all: it is
read back from the tables by design.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from copydesk.memory._cache import IndexCache
from copydesk.memory._items import ItemTable
from copydesk.memory._rows import VectorRows
from copydesk.memory.embeddings import Embedder, EmbedderMismatchError

if TYPE_CHECKING:
    from copydesk.memory._pg import PgItemTable
    from copydesk.memory._pg_rows import PgVectorRows

__all__ = [
    "INDEX_FILE",
    "ITEMS_FILE",
    "LOG_KEPT",
    "check_embedder",
    "load_index",
    "save_index",
]

log = logging.getLogger("copydesk.memory")

INDEX_FILE, ITEMS_FILE = "vectors.faiss", "items.sqlite"
LOG_KEPT = 100_000
"""Generations of dropped-vector log kept; a cache further behind rebuilds."""


def check_embedder(items: ItemTable | PgItemTable, embedder: Embedder, where: str) -> None:
    """Stamp the tables with `embedder`, or refuse one other than the stamped.

    Raises:
        EmbedderMismatchError: The tables hold vectors made with another embedder or dims.
    """
    name, dims = items.meta("embedder"), items.meta("dims")
    if name is None or (
        (name != embedder.name or int(dims or 0) != embedder.dims) and items.count("vectors") == 0
    ):
        # First use, or stamped by a run that never wrote a vector (one that failed at
        # once, say): nothing was indexed with the old embedder, so this one takes over.
        items.set_meta(embedder=embedder.name, dims=str(embedder.dims))
    elif name != embedder.name or int(dims or 0) != embedder.dims:
        raise EmbedderMismatchError(
            f"the memory at {where} was indexed with {name} "
            f"({dims} dims) but this run "
            f"embeds with {embedder.name} ({embedder.dims} dims); use the same "
            "embedder, or clear it with `copydesk memory forget --all`"
        )


def load_index(items: ItemTable | PgItemTable, cache: IndexCache, path: Path) -> bool:
    """Load the saved index under `path` into `cache` if it is sound and not ahead.

    Returns:
        True when the tables hold vectors the cache must be rebuilt from (no usable file).
    """
    sha, saved = items.meta("index_sha256"), items.meta("index_generation")
    if sha == "":
        return False  # a small index is not saved: it is read back from SQLite by design
    if sha is not None and saved is not None and int(saved) <= items.generation():  # noqa: SIM102
        if cache.load(path / INDEX_FILE, sha256=sha, generation=int(saved)):
            return False
    rebuilt = items.count("vectors") > 0
    if rebuilt and (path / INDEX_FILE).exists():
        log.warning(
            "the memory index %s was damaged or out of date; rebuilt it from %s",
            path / INDEX_FILE,
            path / ITEMS_FILE,
        )
    return rebuilt


def save_index(
    items: ItemTable | PgItemTable,
    rows: VectorRows | PgVectorRows,
    cache: IndexCache,
    path: Path,
    *,
    rebuilt: bool,
) -> None:
    """Save the index under `path` (compacted when half dead) and record what it reflects.

    Call inside a write transaction, with the cache caught up. An index that the file
    already reflects is left as it is, so a command that only read writes nothing.
    """
    index = cache.index
    if index.dead > index.size // 2:
        index.compact(np.asarray(rows.all_ids(), np.int64))
    elif (
        not rebuilt
        and items.meta("index_generation") == str(cache.generation)
        and (path / INDEX_FILE).exists()
    ):
        return
    digest = index.save(path / INDEX_FILE)
    items.set_meta(index_sha256=digest, index_generation=str(cache.generation))
    rows.trim_log(cache.generation - LOG_KEPT)
