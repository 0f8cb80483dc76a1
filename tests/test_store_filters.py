"""`FaissStore` filters and namespace conditions beyond the random comparison with
`InMemoryStore`: `$eq`, nested values and lists compared element-wise, suffix conditions with
wildcards, an operator it does not know; and an approximate search past `exact_limit` that
skips other namespaces and non-matching items, widening until it has enough."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import MatchCondition
from langgraph.store.memory import InMemoryStore

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

EMBEDDER = LexicalEmbedder(64)
ITEMS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("t", "a", "facts"), "k1", {"text": "tide", "kind": "fact", "meta": {"lang": "en"},
                                 "tags": ["sea", "salt"], "n": 1}),
    (("t", "a", "notes"), "k2", {"text": "gull", "kind": "note", "meta": {"lang": "de"},
                                 "tags": ["sea"], "n": 2}),
    (("t", "b", "facts"), "k3", {"text": "kelp", "kind": "fact", "meta": {"lang": "en",
                                 "src": "x"}, "tags": ["salt", "sea"], "n": 3}),
]  # fmt: skip


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[Any]]:
    ours = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    reference = InMemoryStore()
    for store in (ours, reference):
        for namespace, key, value in ITEMS:
            store.put(namespace, key, value)
    yield [ours, reference]
    ours.close()


@pytest.mark.parametrize(
    ("where", "keys"),
    [
        ({"kind": {"$eq": "fact"}}, {"k1", "k3"}),
        ({"meta": {"lang": "en"}}, {"k1", "k3"}),
        ({"meta": {"lang": "en", "src": "x"}}, {"k3"}),
        ({"tags": ["sea", "salt"]}, {"k1"}),
        ({"tags": ["sea"]}, {"k2"}),
        ({"n": {"$gte": 2, "$lt": 3}}, {"k2"}),
    ],
)
def test_filters_mean_what_they_mean_in_langgraph(
    stores: list[Any], where: dict[str, Any], keys: set[str]
) -> None:
    for store in stores:
        assert {i.key for i in store.search(("t",), filter=where, limit=10)} == keys, store


def test_an_unknown_operator_is_named() -> None:
    store = FaissStore(embedder=EMBEDDER, fields=["text"])
    store.put(("t",), "k", {"text": "tide", "n": 1})

    with pytest.raises(ValueError, match=r"unsupported filter operator '\$in'; use \$eq"):
        store.search(("t",), filter={"n": {"$in": [1]}})


@pytest.mark.parametrize(
    ("conditions", "max_depth"),
    [
        ([MatchCondition("suffix", ("facts",))], None),
        ([MatchCondition("suffix", ("*", "notes"))], None),
        ([MatchCondition("prefix", ("t", "*")), MatchCondition("suffix", ("facts",))], 2),
        ([MatchCondition("suffix", ("a", "b", "c", "d"))], None),
    ],
)
def test_namespace_conditions_match_the_reference(
    stores: list[Any], conditions: list[MatchCondition], max_depth: int | None
) -> None:
    ours, reference = stores
    prefix = [c.path for c in conditions if c.match_type == "prefix"]
    suffix = [c.path for c in conditions if c.match_type == "suffix"]
    kwargs = {"prefix": prefix[0] if prefix else None, "suffix": suffix[0] if suffix else None}

    assert ours.list_namespaces(**kwargs, max_depth=max_depth) == reference.list_namespaces(
        **kwargs, max_depth=max_depth
    )


def test_an_approximate_search_keeps_to_its_namespace_and_filter(
    store_form: Callable[..., FaissStore],
) -> None:
    store = store_form(embedder=EMBEDDER, fields=["text"], exact_limit=4, faiss_from=4)
    for i in range(60):  # most of them close to the query, in another namespace
        store.put(("other",), f"o{i}", {"text": "harbour crane harbour", "kind": "fact"})
    for i in range(6):
        store.put(("mine",), f"m{i}", {"text": f"harbour crane tide {i}", "kind": "fact"})
        store.put(("mine",), f"n{i}", {"text": f"harbour crane fog {i}", "kind": "note"})

    found = store.search(("mine",), query="harbour crane", filter={"kind": "fact"}, limit=5)

    assert len(found) == 5
    assert all(i.namespace == ("mine",) and i.value["kind"] == "fact" for i in found)
    assert [i.score for i in found] == sorted((i.score for i in found), reverse=True)
    store.close()
