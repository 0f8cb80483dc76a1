"""FaissStore against LangGraph's InMemoryStore on random operation sequences: the same
items, order and scores, also across a reopen from disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from copydesk.memory.vector import FaissStore
from tests._vector_store import EMBEDDER, WORDS

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
        None if score is None else _Close(score),
    )


class _Close(float):
    """A score equal to another within 1e-4 (float32 against float64 arithmetic: rounding
    both would still split values either side of a rounding boundary)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and abs(self - other) <= 1e-4

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = float.__hash__


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
