"""Two processes on one `FaissStore` directory, and the reads that must not write.

The writers are real subprocesses, as two `copydesk` commands sharing `COPYDESK_HOME` are:
each puts and searches for a few seconds while the other commits, then waits for the other's
last item and must find it by meaning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from langgraph.store.base import PutOp

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

EMBEDDER = LexicalEmbedder(64)

WORKER = """
import json, sys, time
from pathlib import Path
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

path, me, other, seconds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
store = FaissStore(path, embedder=LexicalEmbedder(64), fields=["text"])
errors, searches, seen_other, n = [], 0, set(), 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    n += 1
    store.put(("w", me), f"k{n}", {"text": f"{me} wrote harbour note number {n}"})
    if n % 7 == 0:
        store.delete(("w", me), f"k{n - 3}")
    try:
        found = store.search(("w",), query=f"harbour note number {n}", limit=8)
        searches += 1
        seen_other |= {i.key for i in found if i.namespace == ("w", other)}
        store.get(("w", other), "k1")
    except Exception as error:
        errors.append(repr(error)[:300])
store.put(("w", me), "last", {"text": f"the final kite flown by {me} over salt flats"})
deadline = time.monotonic() + 30
last = None
while time.monotonic() < deadline and last is None:
    top = store.search(("w", other), query=f"final kite flown by {other}", limit=1)
    last = top[0] if top and top[0].key == "last" and top[0].score else None
    time.sleep(0.05)
print(json.dumps({"puts": n, "searches": searches, "errors": errors,
                  "saw_other_while_running": len(seen_other), "found_last": last is not None,
                  "rebuilds": store.cache.rebuilds}))
store.close()
"""


def test_two_processes_write_and_search_one_directory(tmp_path: Path) -> None:
    """Two processes putting, deleting and searching one store for 3 s: no errors, each finds
    the other's writes, and neither rebuilds its whole index after opening it."""
    FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"]).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), me, other, "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for report in reports:
        assert report["errors"] == []
        assert report["searches"] > 10 and report["puts"] > 10
        assert report["saw_other_while_running"] > 0
        assert report["found_last"]
        assert report["rebuilds"] <= 1  # at most the load at open; after that, only changes
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    assert {i.key for i in store.search(("w",), query="final kite flown", limit=2)} == {"last"}
    assert store.stats()["items"] == sum(
        r["puts"] - r["puts"] // 7 + 1 for r in reports
    )  # every put that was not deleted, plus the two last items
    store.close()


def test_reads_write_only_for_items_with_a_ttl(tmp_path: Path) -> None:
    """Gets and searches of items without a TTL change nothing another process must load;
    reads of items with a TTL refresh it without touching the vectors' generation."""
    first = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    for n in range(20):
        first.put(("w",), f"k{n}", {"text": f"harbour crane {n}"})
    first.put(("t",), "short", {"text": "fog lamp"}, ttl=5.0)
    second = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    generation = first.items.generation()
    data_version = first.items.db.execute("PRAGMA data_version").fetchone()[0]
    for _ in range(5):
        first.get(("w",), "k1")
        first.search(("w",), query="harbour crane 3", limit=3)
        second.search(("w",), query="harbour crane 4", limit=3)
    assert first.items.generation() == generation
    # data_version changes when another connection commits: the other store wrote nothing.
    assert first.items.db.execute("PRAGMA data_version").fetchone()[0] == data_version
    (expires,) = first.items.db.execute(
        "SELECT expires_at FROM items WHERE key = 'short'"
    ).fetchone()
    second.get(("t",), "short")
    (later,) = first.items.db.execute("SELECT expires_at FROM items WHERE key = 'short'").fetchone()
    assert later > expires and first.items.generation() == generation
    second.close()
    first.close()


def test_a_stale_index_file_catches_up_without_a_rebuild(tmp_path: Path) -> None:
    """An index saved before other writes is loaded and given only what changed since."""
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    for n in range(30):
        store.put(("c",), f"k{n}", {"text": f"river lamp {n}"})
    store.close()
    other = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    other.put(("c",), "late", {"text": "harbour crane harbour crane"})
    other.delete(("c",), "k3")
    other.items.close()  # no flush: the saved index is now two generations behind
    reopened = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=0)
    assert not reopened.rebuilt and reopened.cache.rebuilds == 0
    assert reopened.search(("c",), query="harbour crane", limit=1)[0].key == "late"
    assert "k3" not in {i.key for i in reopened.search(("c",), query="river lamp 3", limit=30)}
    assert reopened.index.size == 30
    reopened.close()


def test_another_process_taking_the_store_into_faiss_is_followed_from_every_vector(
    tmp_path: Path,
) -> None:
    """Below the line into FAISS a process keeps ids only; when another process's writes take
    the store past it, the catch-up reads every vector (it has none of its own to move)."""
    first = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=4)
    first.batch([PutOp(("c",), f"k{n}", {"text": f"river lamp {n}"}) for n in range(3)])
    assert first.search(("c",), query="river lamp 1", limit=1)[0].key == "k1"
    second = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"], faiss_from=4)
    second.batch([PutOp(("c",), f"n{n}", {"text": f"harbour crane {n}"}) for n in range(3)])

    assert first.search(("c",), query="harbour crane 2", limit=1)[0].key == "n2"
    assert first.index.size == 6 and first.index.reconstruct(np.arange(1, 7)).shape == (6, 64)
    second.close()
    first.close()


def test_a_store_made_anew_lets_the_approximate_indexes_go() -> None:
    """A generation that went back (the store was deleted and made again) empties the
    per-prefix indexes too: their vector ids may now name other vectors."""
    store = FaissStore(embedder=EMBEDDER, fields=["text"], exact_limit=2)
    store.batch([PutOp(("c",), f"k{n}", {"text": f"river lamp {n}"}) for n in range(5)])
    store.search(("c",), query="river lamp 1", limit=1)
    spaces = store._tables.spaces
    assert spaces is not None and spaces.loaded == 5
    store.cache.generation += 10  # as if the tables had gone back in time

    assert store.search(("c",), query="river lamp 4", limit=1)[0].key == "k4"
    assert spaces.loaded == 10  # read again from the tables
    store.close()


def test_a_small_store_opens_reading_ids_not_vectors(tmp_path: Path) -> None:
    """Below the line into FAISS no index file is saved, and the reopened store holds the
    vector ids alone; a search still scores from the vectors in the tables."""
    store = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])
    store.batch([PutOp(("c",), f"k{n}", {"text": f"river lamp {n}"}) for n in range(5)])
    store.close()
    reopened = FaissStore(tmp_path, embedder=EMBEDDER, fields=["text"])

    assert reopened.index.size == 5 and not reopened.index.hold
    with pytest.raises(RuntimeError, match="ids only"):
        reopened.index.reconstruct(np.arange(1, 3))
    assert reopened.search(("c",), query="river lamp 3", limit=1)[0].key == "k3"
    assert not (tmp_path / "vectors.faiss").exists()
    reopened.close()
