"""FaissStore against LangGraph's InMemoryStore on random operation sequences, and the
behaviours LangGraph's own store tests check: CRUD, filters, namespaces, TTL, batches."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

EMBEDDER = LexicalEmbedder(64)
WORDS = ["harbour", "crane", "night", "train", "river", "kite", "salt", "bread", "lamp", "fog"]
NAMESPACES = [("a",), ("a", "x"), ("a", "y"), ("b", "x")]
KEYS = ["k0", "k1", "k2"]


def reference() -> InMemoryStore:
    return InMemoryStore(
        index={
            "dims": EMBEDDER.dims,
            "embed": lambda t: EMBEDDER.embed(t).tolist(),
            "fields": ["text"],
        }
    )


def texts() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


values = st.fixed_dictionaries(
    {"text": texts(), "n": st.integers(0, 5), "tag": st.sampled_from(["red", "blue"])}
)
filters = st.one_of(
    st.none(),
    st.fixed_dictionaries({"tag": st.sampled_from(["red", "blue"])}),
    st.fixed_dictionaries({"n": st.sampled_from([{"$gt": 2}, {"$lte": 1}, {"$ne": 3}])}),
)


def _put(ns: tuple[str, ...], key: str, value: dict[str, Any], delete: bool) -> PutOp:
    # InMemoryStore fails on two equal texts in one batch, so each text names its item.
    text = f"{value['text']} {'_'.join(ns)}{key}"
    return PutOp(ns, key, None if delete else {**value, "text": text})


puts = st.builds(
    _put,
    st.sampled_from(NAMESPACES),
    st.sampled_from(KEYS),
    values,
    st.integers(0, 9).map(lambda n: n < 2),
)
gets = st.builds(GetOp, st.sampled_from(NAMESPACES), st.sampled_from(KEYS))
searches = st.builds(
    lambda prefix, query, where, limit, offset: SearchOp(prefix, where, limit, offset, query),
    st.sampled_from([(), ("a",), ("a", "x"), ("b",)]),
    st.one_of(st.none(), texts()),
    filters,
    st.integers(1, 6),
    st.integers(0, 3),
)
listings = st.builds(
    lambda cond, depth, limit, offset: ListNamespacesOp(cond, depth, limit, offset),
    st.sampled_from(
        [
            None,
            (MatchCondition("prefix", ("a",)),),
            (MatchCondition("suffix", ("x",)),),
            (MatchCondition("prefix", ("*", "x")),),
        ]
    ),
    st.one_of(st.none(), st.integers(1, 2)),
    st.integers(1, 10),
    st.integers(0, 2),
)
batches = st.lists(st.lists(st.one_of(puts, gets, searches, listings), min_size=1, max_size=3))


def comparable(result: Any) -> Any:
    """Results without timestamps; scores rounded (float32 vs float64 arithmetic)."""
    if isinstance(result, list):
        return [comparable(r) for r in result]
    if result is None or isinstance(result, tuple):
        return result
    score = getattr(result, "score", None)
    return (
        tuple(result.namespace),
        result.key,
        result.value,
        None if score is None else round(score, 4),
    )


def run_against_reference(
    reopen: Any, store: FaissStore, ops_batches: list[list[Any]], path: Path | None
):
    ref = reference()
    # Every namespace gets a first item in the same order, so namespace order agrees.
    seed = [PutOp(ns, "seed", {"text": f"seed {ns}", "n": 0, "tag": "red"}) for ns in NAMESPACES]
    ref.batch(seed)
    store.batch(seed)
    for number, ops in enumerate(ops_batches):
        expected, actual = ref.batch(ops), store.batch(ops)
        for op, want, got in zip(ops, expected, actual, strict=True):
            if isinstance(op, ListNamespacesOp) and any(
                not ref.search(ns, limit=1) for ns in NAMESPACES
            ):
                continue  # InMemoryStore keeps listing namespaces it emptied; we do not
            assert comparable(got) == comparable(want), (op, got, want)
        if path is not None and number % 3 == 2:  # persistence: reopen mid-sequence
            store.close()
            store = reopen(path, embedder=EMBEDDER, fields=["text"])
    return store


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches)
def test_same_results_as_in_memory_store(store_form: Any, ops_batches: list[list[Any]]) -> None:
    """Random batches of puts, deletes, gets, searches and listings give InMemoryStore's
    results (items, order, scores)."""
    store = store_form(None, embedder=EMBEDDER, fields=["text"])
    run_against_reference(store_form, store, ops_batches, None)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches)
def test_same_results_across_reopen(
    store_form: Any, tmp_path_factory: pytest.TempPathFactory, ops_batches
) -> None:
    """The same, with the store closed and reopened from disk every few batches."""
    path = tmp_path_factory.mktemp("store")
    store = store_form(path, embedder=EMBEDDER, fields=["text"])
    run_against_reference(store_form, store, ops_batches, path).close()


def test_crud_and_timestamps(store_form: Any) -> None:
    """put/get/update/delete; an update keeps created_at and moves updated_at."""
    store = store_form(embedder=EMBEDDER)
    store.put(("docs",), "d1", {"text": "salt bread"})
    first = store.get(("docs",), "d1")
    assert first is not None and first.value == {"text": "salt bread"}
    time.sleep(0.01)
    store.put(("docs",), "d1", {"text": "fog lamp"})
    second = store.get(("docs",), "d1")
    assert second is not None and second.value == {"text": "fog lamp"}
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    store.delete(("docs",), "d1")
    assert store.get(("docs",), "d1") is None
    assert store.search(("docs",), query="fog lamp") == []


def test_invalid_namespaces_are_rejected(store_form: Any) -> None:
    """Empty namespaces, empty labels and dotted labels fail like in every LangGraph store."""
    store = store_form(embedder=EMBEDDER)
    for bad in [(), ("a", ""), ("a.b",), ("langgraph",)]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "k", {"text": "x"})


def test_search_ranks_by_meaning_and_honours_filters_and_index_false(store_form: Any) -> None:
    """The closest text ranks first; filters narrow; index=False items are never scored."""
    store = store_form(embedder=EMBEDDER, fields=["text"])
    store.put(("m",), "1", {"text": "night train river", "n": 1})
    store.put(("m",), "2", {"text": "salt bread lamp", "n": 5})
    store.put(("m",), "3", {"text": "night train", "n": 9}, index=False)
    found = store.search(("m",), query="night train", limit=3)
    assert [i.key for i in found] == ["1", "2", "3"]
    assert found[0].score is not None and found[0].score > found[1].score  # type: ignore[operator]
    assert found[2].score is None
    assert [i.key for i in store.search(("m",), filter={"n": {"$gte": 5}})] == ["2", "3"]


def test_list_namespaces_prefix_suffix_depth_and_paging(store_form: Any) -> None:
    """Namespace listing matches LangGraph's semantics."""
    store = store_form(embedder=EMBEDDER)
    for ns in [("u", "1", "notes"), ("u", "2", "notes"), ("u", "2", "facts"), ("v", "1")]:
        store.put(ns, "k", {"text": "x"})
    assert store.list_namespaces(prefix=("u",)) == [
        ("u", "1", "notes"),
        ("u", "2", "facts"),
        ("u", "2", "notes"),
    ]
    assert store.list_namespaces(suffix=("notes",)) == [("u", "1", "notes"), ("u", "2", "notes")]
    assert store.list_namespaces(prefix=("u", "*", "facts")) == [("u", "2", "facts")]
    assert store.list_namespaces(max_depth=1) == [("u",), ("v",)]
    assert store.list_namespaces(limit=1, offset=1) == [("u", "2", "facts")]
    store.delete(("v", "1"), "k")
    assert ("v", "1") not in store.list_namespaces()


def test_ttl_expires_and_reads_refresh(store_form: Any) -> None:
    """Items with a TTL vanish after it; a read restarts the clock when asked to."""
    store = store_form(embedder=EMBEDDER, ttl={"default_ttl": 0.002, "refresh_on_read": True})
    store.put(("t",), "short", {"text": "fog"})
    store.put(("t",), "long", {"text": "fog lamp"}, ttl=None)
    assert store.get(("t",), "short") is not None
    time.sleep(0.2)
    assert store.get(("t",), "short") is None
    assert [i.key for i in store.search(("t",), query="fog")] == ["long"]
    store.put(("t",), "kept", {"text": "kite"}, ttl=0.005)
    for _ in range(3):
        time.sleep(0.12)
        assert store.get(("t",), "kept") is not None  # each read restarts the 0.3 s clock
    time.sleep(0.35)
    assert store.get(("t",), "kept", refresh_ttl=False) is None


async def test_async_batch_matches_sync(store_form: Any) -> None:
    """abatch runs the same operations."""
    store = store_form(embedder=EMBEDDER)
    await store.aput(("a",), "k", {"text": "kite river"})
    assert (await store.aget(("a",), "k")) == store.get(("a",), "k")
    assert [i.key for i in await store.asearch(("a",), query="kite")] == ["k"]
    assert await store.alist_namespaces() == [("a",)]


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
