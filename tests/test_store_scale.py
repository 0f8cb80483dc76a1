"""`FaissStore` at scale: a search does the same database work whatever the other namespaces
hold (counted in SQLite's virtual-machine steps, not time) and decodes only the rows it
returns; a bounded namespace keeps its capacity, letting the least recently recalled go; and
a store from before the bound (0.1.0's) gains its column when opened."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from langgraph.store.base import PutOp

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

EMBEDDER = LexicalEmbedder(64)
FIXTURE = Path(__file__).parent / "fixtures" / "home-0.1.0" / "memory"
MINE = ("copydesk", "thread", "t1")


class Minilm(LexicalEmbedder):
    """Stands in for the embedder 0.1.0's store was written with (its vectors are not
    compared here)."""

    @property
    def name(self) -> str:
        return "minilm-l6-v2-int8-384"


def _filled(others: int) -> FaissStore:
    store = FaissStore(embedder=EMBEDDER, fields=["text"])
    store.batch(
        [
            PutOp(MINE, f"m{i}", {"text": f"harbour crane tide {i}", "kind": "fact"})
            for i in range(20)
        ]
        + [
            PutOp(("copydesk", "thread", f"t1{i}"), "k", {"text": "harbour crane", "kind": "fact"})
            for i in range(others)
        ]  # namespaces whose text starts like MINE's, and a query they would all answer
    )
    return store


@contextmanager
def _counted(store: FaissStore) -> Iterator[list[int]]:
    """Count the SQLite virtual-machine steps run inside the block."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    store.items.db.set_progress_handler(step, 1)  # type: ignore[union-attr]
    try:
        yield steps
    finally:
        store.items.db.set_progress_handler(None, 1)  # type: ignore[union-attr]


@pytest.mark.parametrize("query", ["harbour crane", None])
def test_a_search_reads_no_row_outside_its_namespace(query: str | None) -> None:
    work = []
    for others in (10, 400):
        store = _filled(others)
        store.search(MINE, query=query, filter={"kind": "fact"}, limit=5)  # caches warm
        with _counted(store) as steps:
            found = store.search(MINE, query=query, filter={"kind": "fact"}, limit=5)
        assert [i.namespace for i in found] == [MINE] * 5
        work.append(steps[0])
        store.close()

    assert work[0] == work[1] > 0


def test_an_approximate_search_reads_only_its_namespaces_vectors() -> None:
    """Past `exact_limit` a search runs over an index of its prefix's own vectors: with 40 or
    400 answering vectors in other namespaces it reads the same 30 (then only what is new),
    and one left among tombstones makes the index again from the live ones."""
    loaded = []
    for others in (40, 400):
        store = FaissStore(embedder=EMBEDDER, fields=["text"], exact_limit=4)
        store.batch(
            [PutOp(MINE, f"m{i}", {"text": f"harbour crane tide {i}"}) for i in range(30)]
            + [
                PutOp(("copydesk", "thread", f"o{i}"), "k", {"text": "harbour crane tide"})
                for i in range(others)
            ]
        )
        found = store.search(MINE, query="harbour crane tide", limit=5)
        assert len(found) == 5 and {i.namespace for i in found} == {MINE}
        store.put(MINE, "new", {"text": "a heron over the salt marsh"})
        assert store.search(MINE, query="a heron over the salt marsh", limit=1)[0].key == "new"
        spaces = store._tables.spaces  # what the approximate searches read into their index
        assert spaces is not None
        loaded.append(spaces.loaded)
        store.batch([PutOp(MINE, f"m{i}", None) for i in range(25)])
        assert {i.key for i in store.search(MINE, query="harbour crane tide", limit=10)} == {
            "m25", "m26", "m27", "m28", "m29", "new"
        }  # fmt: skip
        loaded.append(spaces.loaded)
        store.close()

    assert loaded == [31, 37, 31, 37]


def test_only_the_rows_returned_are_decoded() -> None:
    store = _filled(10)
    statements: list[str] = []
    store.items.db.set_trace_callback(statements.append)  # type: ignore[union-attr]

    found = store.search(MINE, query="harbour crane tide", limit=3)

    reads = [s for s in statements if s.startswith("SELECT value, key")]
    assert len(found) == 3 and len(reads) == 1
    assert len(reads[0].split("IN (")[1].split(")")[0].split(",")) == 3
    store.close()


def test_a_bounded_namespace_lets_the_least_recently_recalled_go(
    store_form: Callable[..., FaissStore],
) -> None:
    shared = ("copydesk", "project", "p")
    store = store_form(embedder=EMBEDDER, fields=["text"], bounds=[(shared[:2], 4)])
    for i in range(4):
        store.put(shared, f"k{i}", {"text": f"note {i} " + ("gull rope" if i == 0 else "mast")})
    assert [i.key for i in store.search(shared, query="gull rope", limit=1)] == ["k0"]

    store.batch([PutOp(shared, f"n{i}", {"text": f"new {i} mast"}) for i in range(2)])
    store.put(("copydesk", "thread", "t"), "x", {"text": "unbounded"})

    keys = {i.key for i in store.search(shared, limit=10)}
    assert keys == {"k0", "k3", "n0", "n1"}  # k1 and k2: never recalled, written first
    assert store.stats()["vectors"] == 5
    store.close()


def test_an_old_store_gains_its_recall_column_when_opened(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "memory")
    with sqlite3.connect(tmp_path / "memory" / "items.sqlite") as db:
        before = {r[1] for r in db.execute("PRAGMA table_info(items)")}
        items = db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert "used_at" not in before and items > 0

    store = FaissStore(tmp_path / "memory", embedder=Minilm(), fields=["text"])
    assert len(store.search(("copydesk",), limit=1000)) == items
    store.put(("copydesk", "project", "default"), "new", {"text": "a new memory"})
    store.close()

    with sqlite3.connect(tmp_path / "memory" / "items.sqlite") as db:
        assert "used_at" in {r[1] for r in db.execute("PRAGMA table_info(items)")}


def test_faiss_runs_one_thread_once_the_index_moves_into_it() -> None:
    """A store asks FAISS one query at a time; a team of OpenMP threads would only spin."""
    import faiss

    store = FaissStore(embedder=EMBEDDER, fields=["text"], faiss_from=2)
    store.batch([PutOp(MINE, f"m{i}", {"text": f"tide {i}"}) for i in range(4)])
    assert [i.key for i in store.search(MINE, query="tide 3", limit=1)] == ["m3"]

    assert store.index.size == 4 and store.index.reconstruct(np.arange(1, 5)).shape == (4, 64)
    assert faiss.omp_get_max_threads() == 1
    store.close()


def test_a_small_store_keeps_ids_not_vectors() -> None:
    """Below the line into FAISS the process keeps no vector: a search reads those it scores
    from the source, with the same results."""
    store = FaissStore(embedder=EMBEDDER, fields=["text"])
    store.batch([PutOp(MINE, f"m{i}", {"text": f"tide {i}"}) for i in range(4)])

    assert store.index.size == 4 and not store.index.hold
    with pytest.raises(RuntimeError, match="ids only"):
        store.index.reconstruct(np.arange(1, 3))
    assert [i.key for i in store.search(MINE, query="tide 3", limit=1)] == ["m3"]
    store.batch([PutOp(MINE, "m0", None)])
    assert store.index.size == 3
    assert "m0" not in {i.key for i in store.search(MINE, query="tide 0", limit=4)}
    store.close()


def test_a_large_namespace_kept_between_searches_follows_every_write(tmp_path: Path) -> None:
    """The ids and vectors of a large namespace are kept between searches, and every write
    that changes it, this process's or another's, is seen by the next search."""
    shared = ("copydesk", "project", "p")
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    other = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])  # another process
    store.batch([PutOp(shared, f"k{i}", {"text": f"note {i} mast sail"}) for i in range(250)])

    def top(query: str) -> list[str]:
        found = [i.key for i in store.search(shared, query=query, limit=3)]
        store._tables.kept.clear()
        assert found == [i.key for i in store.search(shared, query=query, limit=3)]  # as read
        store.search(shared, query=query, limit=3)  # kept again for the next step
        return found

    assert top("heron marsh") and shared in store._tables.kept._entries
    store.put(shared, "heron", {"text": "heron marsh"})
    assert top("heron marsh")[0] == "heron"
    store.put(shared, "heron", {"text": "otter creek"})
    assert top("otter creek")[0] == "heron" and top("heron marsh")[0] != "heron"
    other.put(shared, "gull", {"text": "gull pier"})
    assert top("gull pier")[0] == "gull"
    other.delete(shared, "gull")
    store.delete(shared, "heron")
    assert "gull" not in top("gull pier") and "heron" not in top("otter creek")
    other.close()
    store.close()


def test_a_write_to_a_kept_namespace_reads_only_the_new_vectors() -> None:
    """After a write, the project's ids are read again but its vectors are reused by id:
    only the new memory's vector is read, and the search sees it."""
    shared = ("copydesk", "project", "p")
    store = FaissStore(embedder=EMBEDDER, fields=["text"])
    store.batch([PutOp(shared, f"k{i}", {"text": f"note {i} mast sail"}) for i in range(250)])
    store.search(shared, query="mast", limit=3)
    kept = store._tables.kept
    assert kept.read == 250

    store.put(shared, "heron", {"text": "heron marsh"})
    assert store.search(shared, query="heron marsh", limit=1)[0].key == "heron"
    store.put(shared, "k3", {"text": "otter creek"})  # a changed text: a new vector
    assert store.search(shared, query="otter creek", limit=1)[0].key == "k3"
    assert kept.read == 252
    for i in range(10):  # others forgotten meanwhile stay few
        kept._forgotten[(f"x{i}",)] = kept._entries[shared]
    kept.forget(namespaces=[shared])
    assert len(kept._forgotten) == kept.kept and shared in kept._forgotten
    store.close()


def test_kept_candidates_are_forgotten_when_one_of_their_items_gets_a_vector() -> None:
    """A memory that waited for its embedding and got it changes its namespace's vectors:
    the prefix holding it is read again; others stay kept."""
    import numpy as np

    from copydesk.memory._candidates import Candidates

    reads: list[tuple[str, ...]] = []

    def reader(prefix: tuple[str, ...], first: int) -> Callable[[], object]:
        def read() -> object:
            reads.append(prefix)
            return np.array([[first + i, -1] for i in range(200)], np.int64)

        return read

    kept = Candidates()
    for _ in range(2):
        kept.get(("a",), reader(("a",), 0), lambda ids: np.zeros((0, 4)), 1000)
        kept.get(("b",), reader(("b",), 1000), lambda ids: np.zeros((0, 4)), 1000)
    kept.forget(items=[1005])  # an item of ("b",) landed its vector
    kept.get(("a",), reader(("a",), 0), lambda ids: np.zeros((0, 4)), 1000)
    kept.get(("b",), reader(("b",), 1000), lambda ids: np.zeros((0, 4)), 1000)

    assert reads == [("a",), ("b",), ("b",)]


def test_only_the_last_searched_large_prefixes_are_kept_and_never_one_searched_roughly() -> None:
    """At most `kept` prefixes (the least recently searched goes), and a prefix past
    `exact_limit` (searched approximately) is neither given vectors nor kept."""
    import numpy as np

    from copydesk.memory._candidates import Candidates

    rows = np.array([[i, i] for i in range(200)], np.int64)
    kept = Candidates(kept=1)
    vectors = kept.get(("a",), lambda: rows, lambda ids: np.ones((len(ids), 4)), 1000)[1]
    kept.get(("b",), lambda: rows, lambda ids: np.ones((len(ids), 4)), 1000)
    rough = kept.get(("c",), lambda: rows, lambda ids: np.ones((len(ids), 4)), 100)[1]

    assert vectors.shape == (200, 4) and rough is None
    assert list(kept._entries) == [("b",)]


def test_numbers_and_the_whole_store_select_as_langgraph_does() -> None:
    """A number in a filter is checked by the database (1 and 1.0 alike), and
    an empty prefix searches every namespace."""
    store = FaissStore(embedder=EMBEDDER, fields=["text"])
    store.batch(
        [
            PutOp(("a",), "one", {"text": "tide", "n": 1}),
            PutOp(("b", "c"), "float", {"text": "tide", "n": 1.0}),
            PutOp(("b",), "two", {"text": "tide", "n": 2}),
        ]
    )

    assert {i.key for i in store.search((), filter={"n": 1}, limit=10)} == {"one", "float"}
    assert {i.key for i in store.search((), query="tide", limit=10)} == {"one", "float", "two"}
    store.close()
