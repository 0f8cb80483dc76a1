"""FaissStore's vector index: HNSW past a threshold, NumPy below it, rebuilt when damaged or
stale, tied to one embedder, nothing pickled, shared by two writers on one directory."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.store.base import PutOp

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore
from tests._vector_store import EMBEDDER, WORDS


def _fill(store: FaissStore, count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts_ = [
        " ".join(rng.choices(WORDS + [f"w{i}" for i in range(300)], k=6)) for _ in range(count)
    ]
    for start in range(0, count, 200):
        store.batch(
            [
                PutOp(("c",), f"k{i}", {"text": texts_[i]})
                for i in range(start, min(count, start + 200))
            ]
        )
    return texts_


def test_hnsw_past_threshold_meets_recall_and_skips_deleted() -> None:
    """Past the threshold the index is HNSW; top-10 overlaps exact search by >= 95 %."""
    store = FaissStore(embedder=EMBEDDER, fields=["text"], hnsw_threshold=300, exact_limit=300)
    corpus = _fill(store, 1200)
    assert store.index.kind == "hnsw"
    matrix = EMBEDDER.embed(corpus)
    rng = random.Random(1)
    hits = 0
    for _ in range(40):
        query = " ".join(rng.choices(WORDS, k=3))
        exact = np.argsort(-(matrix @ EMBEDDER.embed([query])[0]), kind="stable")[:10]
        got = {i.key for i in store.search(("c",), query=query, limit=10)}
        hits += len(got & {f"k{i}" for i in exact})
    assert hits / 400 >= 0.95
    top = store.search(("c",), query=corpus[7], limit=1)[0].key
    store.delete(("c",), top)
    assert top not in {i.key for i in store.search(("c",), query=corpus[7], limit=10)}


def test_half_written_or_stale_index_is_rebuilt(tmp_path: Path) -> None:
    """A truncated index file, or one older than the items, is detected and rebuilt."""
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    _fill(store, 50)
    expected = [i.key for i in store.search(("c",), query="harbour crane", limit=5)]
    store.close()
    index_file = tmp_path / "vectors.faiss"
    index_file.write_bytes(index_file.read_bytes()[: index_file.stat().st_size // 2])
    reopened = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    assert reopened.rebuilt
    assert [i.key for i in reopened.search(("c",), query="harbour crane", limit=5)] == expected
    # A crash after writes but before the index was saved: the file is stale, not trusted.
    reopened.put(("c",), "late", {"text": "harbour crane harbour crane"})
    shutil.copy(tmp_path / "items.sqlite", tmp_path / "copy.sqlite")
    reopened.items.close()  # no flush: as if the process died here
    stale = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    assert stale.rebuilt
    assert stale.search(("c",), query="harbour crane", limit=1)[0].key == "late"
    stale.close()


def test_nothing_is_pickled(tmp_path: Path) -> None:
    """The store writes only SQLite and FAISS's own index format; values are JSON text."""
    store = FaissStore(tmp_path, embedder=EMBEDDER, faiss_from=0)
    store.put(("p",), "k", {"text": "salt", "nested": {"n": 1}})
    store.close()
    assert {p.name for p in tmp_path.iterdir()} <= {
        "items.sqlite",
        "items.sqlite-wal",
        "items.sqlite-shm",
        "vectors.faiss",
    }
    assert (tmp_path / "vectors.faiss").read_bytes()[:4] == b"IxM2"  # faiss IndexIDMap2 header
    import sqlite3

    (raw,) = (
        sqlite3.connect(tmp_path / "items.sqlite").execute("SELECT value FROM items").fetchone()
    )
    assert raw == '{"text": "salt", "nested": {"n": 1}}'


def test_another_embedder_is_a_clear_error(tmp_path: Path) -> None:
    """Opening an index with a different embedder or dimension fails, naming both."""
    first = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    first.put(("a",), "k", {"text": "salt marsh"})
    first.close()
    with pytest.raises(ValueError, match=r"lexical-v1-64 \(64 dims\).*lexical-v1-32 \(32 dims\)"):
        FaissStore(tmp_path, embedder=LexicalEmbedder(32))


def test_a_store_with_no_vector_yet_takes_the_new_embedder(tmp_path: Path) -> None:
    """A store stamped by a run that never indexed anything (it failed at once) is not tied
    to that run's embedder: the next one takes it over and indexes with its own."""
    FaissStore(tmp_path, embedder=EMBEDDER).close()
    second = FaissStore(tmp_path, embedder=LexicalEmbedder(32), fields=["text"])
    second.put(("a",), "k", {"text": "salt marsh"})
    assert [i.key for i in second.search(("a",), query="salt marsh")] == ["k"]
    second.close()
    with pytest.raises(ValueError, match=r"lexical-v1-32"):
        FaissStore(tmp_path, embedder=EMBEDDER)


def test_two_writers_on_one_directory_see_each_other(store_form: Any, tmp_path: Path) -> None:
    """Two processes' stores on one directory: each sees the other's writes, and whichever
    saves its index last, a reopened store finds every item."""
    first = store_form(tmp_path, embedder=EMBEDDER, fields=["text"])
    second = store_form(tmp_path, embedder=EMBEDDER, fields=["text"])
    first.put(("w",), "a", {"text": "harbour crane"})
    second.put(("w",), "b", {"text": "night train"})
    first.put(("w",), "c", {"text": "salt bread"})
    assert first.search(("w",), query="night train", limit=1)[0].key == "b"
    assert second.search(("w",), query="salt bread", limit=1)[0].key == "c"
    second.close()
    first.close()
    again = store_form(tmp_path, embedder=EMBEDDER, fields=["text"])
    assert {
        again.search(("w",), query=q, limit=1)[0].key for q in ("harbour", "train", "salt")
    } == {
        "a",
        "b",
        "c",
    }


def test_a_small_index_stays_in_numpy_and_faiss_is_never_loaded(tmp_path: Path) -> None:
    """Up to `faiss_from` vectors: searches are exact over a NumPy array, nothing but SQLite
    is written, a reopened store reads its vectors back (not counted as a rebuild), and the
    faiss module is never imported (a fresh interpreter checks `sys.modules`). Past it, the
    same searches give the same answer from FAISS and `vectors.faiss` is saved."""
    script = f"""
import sys
from pathlib import Path
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore
path = Path({str(tmp_path / "small")!r})
store = FaissStore(path, embedder=LexicalEmbedder(64), fields=["text"])
for n in range(200):
    store.put(("c",), f"k{{n}}", {{"text": f"harbour crane {{n}} gull {{n % 7}}"}})
first = [i.key for i in store.search(("c",), query="harbour crane 17", limit=3)]
store.close()
again = FaissStore(path, embedder=LexicalEmbedder(64), fields=["text"])
assert not again.rebuilt and again.index.size == 200
assert [i.key for i in again.search(("c",), query="harbour crane 17", limit=3)] == first
again.close()
print(first[0], "faiss" in sys.modules, sorted(p.name for p in path.iterdir()))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    top, loaded, files = done.stdout.split(" ", 2)
    assert top == "k17" and loaded == "False"
    assert "vectors.faiss" not in files
    big = FaissStore(tmp_path / "big", embedder=EMBEDDER, fields=["text"], faiss_from=50)
    _fill(big, 80)
    small = FaissStore(tmp_path / "ref", embedder=EMBEDDER, fields=["text"])
    _fill(small, 80)
    for query in ("harbour crane", "gull on the pier"):
        want = [i.key for i in small.search(("c",), query=query, limit=5)]
        assert [i.key for i in big.search(("c",), query=query, limit=5)] == want
    big.close()
    small.close()
    assert (tmp_path / "big" / "vectors.faiss").is_file()
