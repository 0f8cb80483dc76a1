"""`FaissStore` upkeep: deleted vectors leave the FAISS index (flat) or are compacted away when
tombstones outnumber the living (HNSW), and a store written before the change log is migrated
once when opened, its memories still found."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import pytest
from langgraph.store.base import PutOp

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

EMBEDDER = LexicalEmbedder(64)
WORDS = [
    *("harbour", "crane", "tide", "gull", "rope", "anchor"),
    *("mast", "sail", "keel", "buoy", "pier", "net"),
]


def _text(i: int) -> str:
    return " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 5, 7)) + f" item{i}"


def _fill(store: FaissStore, count: int) -> None:
    for i in range(count):
        store.put(("c",), f"k{i}", {"text": _text(i)})


def _keys(store: FaissStore, query: str, limit: int = 30) -> set[str]:
    return {i.key for i in store.search(("c",), query=query, limit=limit)}


def test_deleted_vectors_leave_a_flat_faiss_index(tmp_path: Path) -> None:
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=4)
    _fill(store, 10)
    for i in range(3):
        store.delete(("c",), f"k{i}")

    assert store.stats()["index_size"] == 7
    assert _keys(store, "harbour crane") == {f"k{i}" for i in range(3, 10)}
    store.close()


def test_hnsw_tombstones_are_compacted_when_the_store_is_saved(tmp_path: Path) -> None:
    store = FaissStore(
        tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=4, hnsw_threshold=16,
        exact_limit=4,
    )  # fmt: skip
    _fill(store, 24)
    assert (store.stats()["index"], store.stats()["index_size"]) == ("hnsw", 24)
    for i in range(16):
        store.delete(("c",), f"k{i}")

    assert store.stats()["index_size"] == 24  # HNSW cannot remove: 16 tombstones
    assert _keys(store, "gull rope") == {f"k{i}" for i in range(16, 24)}
    store.close()  # more dead than alive: rebuilt from the living when saved

    reopened = FaissStore(
        tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=4, hnsw_threshold=16,
        exact_limit=4,
    )  # fmt: skip
    assert reopened.stats()["index_size"] == 8
    assert _keys(reopened, "gull rope") == {f"k{i}" for i in range(16, 24)}
    reopened.close()


def test_an_emptied_faiss_index_grows_into_hnsw(tmp_path: Path) -> None:
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0, hnsw_threshold=8)
    _fill(store, 3)
    for i in range(3):
        store.delete(("c",), f"k{i}")
    assert store.stats()["index_size"] == 0

    store.batch([PutOp(("c",), f"n{i}", {"text": _text(i)}) for i in range(12)])

    assert (store.stats()["index"], store.stats()["index_size"]) == ("hnsw", 12)
    assert _keys(store, "anchor mast") == {f"n{i}" for i in range(12)}
    store.close()


def test_a_store_from_before_the_change_log_is_migrated_once(tmp_path: Path) -> None:
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    _fill(store, 6)
    store.close()
    with sqlite3.connect(tmp_path / "items.sqlite") as db:  # the schema before the log
        db.execute("DROP INDEX vectors_gen")
        db.execute("ALTER TABLE vectors DROP COLUMN gen")
        db.execute("DELETE FROM meta WHERE name = 'log_from'")
        row = db.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()
        generation = int(row[0])

    reopened = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])

    assert _keys(reopened, "harbour crane") == {f"k{i}" for i in range(6)}
    reopened.put(("c",), "late", {"text": "harbour crane harbour crane"})
    assert "late" in _keys(reopened, "harbour crane")
    reopened.close()
    with sqlite3.connect(tmp_path / "items.sqlite") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(vectors)")}
        log_from = db.execute("SELECT value FROM meta WHERE name = 'log_from'").fetchone()
    assert "gen" in columns
    assert log_from == (str(generation),)  # caches older than the migration rebuild


def _foreign(path: Path, write: Callable[[Path], None]) -> None:
    """Put another file where the store's index goes, recorded as if the store wrote it (a
    copy from elsewhere, another program's index)."""
    write(path / "vectors.faiss")
    if not (path / "vectors.faiss").exists():
        return  # deleted: the record still names the file that was
    digest = hashlib.sha256((path / "vectors.faiss").read_bytes()).hexdigest()
    with sqlite3.connect(path / "items.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'index_sha256'", (digest,))
    db.close()


def _write_index(index: Any) -> Callable[[Path], None]:
    return lambda path: faiss.write_index(index, str(path))


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.unlink(),  # deleted
        lambda path: path.write_bytes(b"not a FAISS index at all"),  # unreadable
        _write_index(faiss.IndexIDMap2(faiss.IndexFlatIP(32))),  # other dimensions
        _write_index(faiss.IndexFlatIP(64)),  # not an index by id
    ],
    ids=["deleted", "unreadable", "other-dims", "not-by-id"],
)
def test_an_index_file_that_is_not_this_stores_is_rebuilt(
    tmp_path: Path, write: Callable[[Path], None]
) -> None:
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    _fill(store, 12)
    expected = _keys(store, "harbour crane", limit=5)
    store.close()
    _foreign(tmp_path, write)

    reopened = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)

    assert reopened.rebuilt
    assert _keys(reopened, "harbour crane", limit=5) == expected
    reopened.close()
