"""The memory store a run uses, from settings: a `FaissStore` under `COPYDESK_HOME/memory`.

`memory` is a leaf package, so this takes the few settings it needs as plain values through
a small protocol rather than importing `agents.config`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # FAISS and NumPy load when a store is opened, not on import
    from pydantic import SecretStr

    from memory.embeddings import Embedder
    from memory.vector import FaissStore

__all__ = ["MemorySettings", "embedder_for", "make_store", "memory_path", "open_store"]

INDEXED_FIELDS = ("text",)


class MemorySettings(Protocol):
    """The settings the memory store reads (`agents.config.Settings` has them all)."""

    @property
    def home(self) -> Path: ...
    @property
    def openai_api_key(self) -> SecretStr | None: ...
    @property
    def openai_base_url(self) -> str | None: ...
    @property
    def is_offline(self) -> bool: ...
    @property
    def embedding_model(self) -> str: ...
    @property
    def embedding_dims(self) -> int | None: ...
    @property
    def local_embedder(self) -> str: ...


def memory_path(settings: MemorySettings) -> Path:
    """Where the store lives: `COPYDESK_HOME/memory`."""
    return settings.home / "memory"


def embedder_for(settings: MemorySettings) -> Embedder:
    """OpenAI embeddings through the configured endpoint, or the offline lexical embedder."""
    from memory.embeddings import LexicalEmbedder, make_embedder
    from memory.fallback import serving_embedder

    key = settings.openai_api_key
    chosen = make_embedder(
        api_key=key.get_secret_value() if key else None,
        base_url=settings.openai_base_url,
        offline=settings.is_offline,
        model=settings.embedding_model,
        dims=settings.embedding_dims,
    )
    from memory.minilm import local_embedder

    local = local_embedder(settings.local_embedder, settings.embedding_dims)
    if isinstance(chosen, LexicalEmbedder):  # no endpoint: the best local embedder there is
        return local
    # A server without embeddings (llama.cpp, many local ones): the local embedder, said once.
    return serving_embedder(chosen, local)


def make_store(settings: MemorySettings) -> FaissStore:
    """The store under home (created on first use); the caller closes it."""
    from memory.vector import FaissStore

    path = memory_path(settings)
    return FaissStore(path, embedder=embedder_for(settings), fields=INDEXED_FIELDS)


@contextmanager
def open_store(settings: MemorySettings) -> Iterator[FaissStore]:
    """Open the store under home (created on first use); flush and close it on exit."""
    store = make_store(settings)
    try:
        yield store
    finally:
        store.close()
