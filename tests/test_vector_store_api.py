"""FaissStore does what LangGraph's own store tests check: CRUD, namespaces, search with
filters, namespace listing, TTL, async batches."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langgraph.store.base import InvalidNamespaceError

from tests._vector_store import EMBEDDER


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
