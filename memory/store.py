"""The memory store a run uses: a `FaissStore` under `COPYDESK_HOME/memory`, or, with
`COPYDESK_STORE_URL=postgresql://...`, one whose items and vectors live in PostgreSQL, shared
by every process and machine (each keeps only its FAISS cache).

`memory` is a leaf package: it takes the home directory through a small protocol rather than
importing `copydesk.agents.settings`, and the embedder is injected (the model client builds
the one that calls a server, `copydesk.agents.client.embeddings.embedder_for`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from copydesk.memory import errors

if TYPE_CHECKING:  # FAISS and NumPy load when a store is opened, not on import
    from copydesk.memory.embeddings import Embedder
    from copydesk.memory.vector import FaissStore

__all__ = [
    "DamagedMemoryError",
    "MemorySettings",
    "close_quietly",
    "forget_all",
    "make_store",
    "make_store_mended",
    "memory_path",
    "open_store",
    "set_aside",
]

log = logging.getLogger("copydesk.memory")

INDEXED_FIELDS = ("text",)
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


class DamagedMemoryError(errors.DamagedStoreError):
    """The memory database cannot be read: it is truncated, overwritten or not a database
    (a `copydesk.memory.errors.DamagedStoreError`: one line and exit 2 from any command).

    Attributes:
        path: The database file.
        detail: What SQLite said.
    """

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"the memory database {path} is damaged ({detail}); restore it from a backup, or "
            "move it aside (`copydesk run` does that itself and starts a fresh one)"
        )
        self.path = path
        self.detail = detail


def is_damage(error: BaseException) -> bool:
    """True when SQLite says the database file itself is damaged (not locked, not missing)."""
    return (
        isinstance(error, sqlite3.DatabaseError)
        and getattr(error, "sqlite_errorcode", None) in _DAMAGE_CODES
    )


class MemorySettings(Protocol):
    """The settings the memory store reads (`copydesk.agents.settings.Settings` has them)."""

    @property
    def home(self) -> Path: ...
    @property
    def store_url(self) -> str | None: ...


def memory_path(settings: MemorySettings) -> Path:
    """Where the store lives: `COPYDESK_HOME/memory`."""
    return settings.home / "memory"


def make_store(settings: MemorySettings, embedder: Embedder) -> FaissStore:
    """The store in PostgreSQL (`store_url`) or under home (created on first use); the
    caller closes it."""
    from copydesk.memory._saved import ITEMS_FILE
    from copydesk.memory.recall import PROJECT_CAPACITY, project_namespace
    from copydesk.memory.vector import FaissStore

    bounds = [(project_namespace("")[:-1], PROJECT_CAPACITY)]
    if settings.store_url:
        return FaissStore(
            url=settings.store_url, embedder=embedder, fields=INDEXED_FIELDS, bounds=bounds
        )
    path = memory_path(settings)
    try:
        return FaissStore(path, embedder=embedder, fields=INDEXED_FIELDS, bounds=bounds)
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) and not is_damage(error):
            raise errors.unwritable("the memory database", path / ITEMS_FILE, error) from None
        if is_damage(error):
            raise DamagedMemoryError(path / ITEMS_FILE, str(error)) from None
        raise


def set_aside(damaged: DamagedMemoryError) -> list[Path]:
    """Move a damaged database (with its journal files and the index built from it) aside,
    next to it as `NAME.damaged-<UTC time>`: kept for a salvage, never deleted. Returns
    where the database went first, then the others."""
    from copydesk.memory._saved import INDEX_FILE

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = damaged.path.parent
    names = [damaged.path.name, *(damaged.path.name + s for s in ("-wal", "-shm"))]
    moved: list[Path] = []
    for name in [*names, INDEX_FILE]:
        source = folder / name
        if not source.exists():
            continue
        target = folder / f"{name}.damaged-{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = folder / f"{name}.damaged-{stamp}-{n}"
        source.rename(target)
        moved.append(target)
    return moved


def make_store_mended(settings: MemorySettings, embedder: Embedder) -> FaissStore | None:
    """`make_store`, except that a damaged database never stops a run: it is set aside
    (kept), said in one warning naming both paths, and a fresh store is opened; when even
    that fails the run goes on without memory (said too)."""
    try:
        return make_store(settings, embedder)
    except DamagedMemoryError as damaged:
        try:
            moved = set_aside(damaged)
            store = make_store(settings, embedder)
        except (OSError, sqlite3.Error, DamagedMemoryError) as error:
            log.warning(
                "the memory database %s is damaged (%s) and could not be set aside (%s); this "
                "run goes on without memory",
                damaged.path,
                damaged.detail,
                error,
            )
            return None
        log.warning(
            "the memory database %s is damaged (%s); moved it to %s (kept, for a salvage) and "
            "started a fresh one",
            damaged.path,
            damaged.detail,
            moved[0] if moved else "(already moved by another process)",
        )
        return store


@contextmanager
def open_store(settings: MemorySettings, embedder: Embedder) -> Iterator[FaissStore | None]:
    """Open the store under home (created on first use; a damaged one set aside, see
    `make_store_mended`); flush and close it on exit. None: the run goes without memory."""
    store = make_store_mended(settings, embedder)
    try:
        yield store
    finally:
        if store is not None:
            close_quietly(store)


def close_quietly(store: FaissStore) -> None:
    """Close `store`; a database damaged during the run is said, not raised: the run's
    results are in the checkpoint, the memories are what is lost, and the warning says so."""
    try:
        store.close()
    except sqlite3.DatabaseError as error:
        if not is_damage(error):
            raise
        log.warning(
            "the memory database under %s was damaged during the run (%s); memories of this "
            "run since the damage are not saved; the next run sets it aside",
            store.path,
            error,
        )


def forget_all(settings: MemorySettings) -> None:
    """Delete the whole store: the PostgreSQL tables' rows, or the folder under home."""
    if settings.store_url:
        from copydesk.memory._pg import clear

        clear(settings.store_url)
        return
    import shutil

    shutil.rmtree(memory_path(settings), ignore_errors=True)
