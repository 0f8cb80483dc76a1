"""The memory store a run uses: a `FaissStore` under `COPYDESK_HOME/memory`.

`memory` is a leaf package: it takes the home directory through a small protocol rather than
importing `agents.config`, and the embedder is injected (the model client builds the one that
calls a server, `agents.client.embeddings.embedder_for`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # FAISS and NumPy load when a store is opened, not on import
    from memory.embeddings import Embedder
    from memory.vector import FaissStore

__all__ = ["MemorySettings", "make_store", "memory_path", "open_store"]

INDEXED_FIELDS = ("text",)


class MemorySettings(Protocol):
    """The settings the memory store reads (`agents.config.Settings` has them)."""

    @property
    def home(self) -> Path: ...


def memory_path(settings: MemorySettings) -> Path:
    """Where the store lives: `COPYDESK_HOME/memory`."""
    return settings.home / "memory"


def make_store(settings: MemorySettings, embedder: Embedder) -> FaissStore:
    """The store under home (created on first use); the caller closes it."""
    from memory.vector import FaissStore

    return FaissStore(memory_path(settings), embedder=embedder, fields=INDEXED_FIELDS)


@contextmanager
def open_store(settings: MemorySettings, embedder: Embedder) -> Iterator[FaissStore]:
    """Open the store under home (created on first use); flush and close it on exit."""
    store = make_store(settings, embedder)
    try:
        yield store
    finally:
        store.close()
