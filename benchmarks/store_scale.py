"""The memory store alone as the number of users grows: search and insert cost against what
the store holds in other namespaces, and recall of paraphrases with the project's bound on.

    .venv/bin/python benchmarks/store_scale.py [--others 0,10000,100000,1000000] [--searches 300]

For each size, a store holds one thread's namespace (20 memories), a shared project
namespace (2,000, its bound) and `others` memories in 20-item thread namespaces of other
users. Printed: search latency p50 / p99 in the thread's namespace and in the project's
(`limit=24`, as a recall asks), and inserts per second (one memory per batch, as a turn
writes). The others are written straight into the store's tables (one transaction, random
unit vectors), so a million of them takes a minute rather than an hour; the index is kept
flat (exact FAISS), since a search in a namespace scores its own candidates and never asks
the index for the nearest of everything.

Then recall@5 of the paraphrase set (`benchmarks/paraphrase.py`: 30 facts asked by questions
worded differently, among 30 distractors) searched through the store's project namespace:
alone; after 2,000 older memories pushed it past its bound (the facts are the newest); and
in a project that keeps asking while 2,000 newer memories arrive (least recently recalled goes),
each with the bound off and on.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from langgraph.store.base import PutOp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.paraphrase import DISTRACTORS, PAIRS
from copydesk.memory.embeddings import Embedder, LexicalEmbedder
from copydesk.memory.minilm import MiniLMEmbedder, minilm_available
from copydesk.memory.recall import PROJECT_CAPACITY, project_namespace
from copydesk.memory.vector import FaissStore

THREAD = ("copydesk", "thread", "mine")
PROJECT = project_namespace("default")
BOUNDS = [(PROJECT[:2], PROJECT_CAPACITY)]
EMBEDDER = LexicalEmbedder(64)
WORDS = [
    *("harbour", "crane", "tide", "gull", "rope", "anchor", "mast"),
    *("sail", "keel", "buoy", "pier", "net", "fog", "reef"),
]


def _text(n: int) -> str:
    return " ".join(WORDS[(n * k + k) % len(WORDS)] for k in (1, 2, 3, 5, 7)) + f" note {n}"


def _open(path: Path) -> FaissStore:
    return FaissStore(path, embedder=EMBEDDER, fields=["text"], hnsw_threshold=10**8, bounds=BOUNDS)


def _fill_others(path: Path, others: int) -> None:
    """`others` memories in 20-item namespaces, written straight into the tables."""
    db = sqlite3.connect(path / "items.sqlite", isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    generation = int(db.execute("SELECT value FROM meta WHERE name='generation'").fetchone()[0]) + 1
    rng = np.random.default_rng(0)
    first = int(db.execute("SELECT coalesce(max(id), 0) FROM namespaces").fetchone()[0]) + 1
    stamp = "2026-01-01T00:00:00+00:00"
    for start in range(0, others, 20_000):
        count = min(20_000, others - start)
        spaces = range(start // 20, (start + count + 19) // 20)
        db.executemany(
            "INSERT OR IGNORE INTO namespaces (id, ns) VALUES (?, ?)",
            [(first + s, json.dumps(["copydesk", "thread", f"user-{s}"])) for s in spaces],
        )
        vectors = rng.standard_normal((count, EMBEDDER.dims)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        base = int(db.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0]) + 1
        ids = list(range(base, base + count))
        db.executemany(
            "INSERT INTO items (id, ns_id, key, value, created_at, updated_at, used_at) "
            'VALUES (?, ?, ?, \'{"text": "other"}\', ?, ?, 0)',
            [(i, first + (start + n) // 20, f"k{n}", stamp, stamp) for n, i in enumerate(ids)],
        )
        db.executemany(
            "INSERT INTO vectors (item_id, path, vec, gen) VALUES (?, 'text', ?, ?)",
            [(i, v.tobytes(), generation) for i, v in zip(ids, vectors, strict=True)],
        )
    db.execute("UPDATE meta SET value = ? WHERE name = 'generation'", (str(generation),))
    db.execute("COMMIT")
    db.close()


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def measure(others: int, searches: int) -> dict[str, float]:
    """Search p50/p99 (ms) in the thread's and the project's namespace, inserts per second."""
    with tempfile.TemporaryDirectory(prefix="store-scale-") as folder:
        path = Path(folder)
        store = _open(path)
        store.batch(
            [_put(THREAD, f"t{n}", n) for n in range(20)]
            + [_put(PROJECT, f"p{n}", n) for n in range(PROJECT_CAPACITY)]
        )
        store.close()
        _fill_others(path, others)
        store = _open(path)
        queries = [_text(n * 7 + 3) for n in range(searches)]
        for query in queries[:20]:
            store.search(THREAD, query=query, limit=24)  # query vectors cached, as in a run
        result: dict[str, float] = {"others": others, "items": store.stats()["items"]}
        for name, namespace in (("thread", THREAD), ("project", PROJECT)):
            took = []
            for query in queries:
                started = time.perf_counter()
                store.search(namespace, query=query, limit=24)
                took.append(time.perf_counter() - started)
            result[f"{name}_p50"], result[f"{name}_p99"] = _percentiles(took)
        started = time.perf_counter()
        for n in range(200):
            store.batch([_put(("copydesk", "thread", "new"), f"n{n}", n)])
        result["inserts_per_s"] = 200 / (time.perf_counter() - started)
        store.close()
    return result


def _put(namespace: tuple[str, ...], key: str, n: int) -> PutOp:
    return PutOp(namespace, key, {"kind": "fact", "text": _text(n)})


def recall_at_5(embedder: Embedder) -> dict[str, tuple[float, float]]:
    """Recall@5 of the paraphrase set through the project namespace, without and with the
    bound: alone; after 2,000 older memories; and in a project that keeps asking its
    questions while 2,000 newer memories arrive (what is recalled stays)."""
    facts = [fact for fact, _ in PAIRS]
    questions = [question for _, question in PAIRS]
    filler = [f"Filler note {n}: {_text(n)}" for n in range(PROJECT_CAPACITY)]

    def score(store: FaissStore) -> float:
        hits = 0
        for n, question in enumerate(questions):
            found = [i.key for i in store.search(PROJECT, query=question, limit=5)]
            hits += f"corpus{n}" in found
        return hits / len(questions)

    def run(scenario: str, bounded: bool) -> float:
        with tempfile.TemporaryDirectory(prefix="store-recall-") as folder:
            store = FaissStore(
                Path(folder), embedder=embedder, fields=["text"], bounds=BOUNDS if bounded else ()
            )
            older = filler if scenario == "older" else []
            store.batch([PutOp(PROJECT, f"old{n}", {"text": t}) for n, t in enumerate(older)])
            for n, text in enumerate(facts + DISTRACTORS):
                store.put(PROJECT, f"corpus{n}", {"text": text})
            newer = filler if scenario == "newer" else []
            for start in range(0, len(newer), 100):
                score(store)  # the project asks its questions again
                part = enumerate(newer[start : start + 100], start)
                store.batch([PutOp(PROJECT, f"new{n}", {"text": t}) for n, t in part])
            result = score(store)
            store.close()
            return result

    return {s: (run(s, False), run(s, True)) for s in ("alone", "older", "newer")}


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/store_scale.py", description=__doc__)
    parser.add_argument("--others", default="0,10000,100000,1000000")
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(
        "| items in other namespaces | thread search p50 / p99 ms | project search p50 / p99 "
        "ms | inserts/s |"
    )
    print("|---:|---:|---:|---:|")
    for others in [int(x) for x in args.others.split(",")]:
        r = measure(others, args.searches)
        print(
            f"| {others:,} | {r['thread_p50']:.2f} / {r['thread_p99']:.2f} | "
            f"{r['project_p50']:.2f} / {r['project_p99']:.2f} | {r['inserts_per_s']:.0f} |",
            flush=True,
        )
    embedder: Embedder = MiniLMEmbedder() if minilm_available() else LexicalEmbedder()
    recall = recall_at_5(embedder)
    print(f"\nrecall@5, paraphrase set in the project namespace ({embedder.name}):\n")
    print("| memories besides the set | unbounded | bound 2,000 |\n|---|---:|---:|")
    labels = {
        "alone": "none",
        "older": "2,000 older",
        "newer": "2,000 newer, the questions asked every 100",
    }
    for name, (free, bounded) in recall.items():
        print(f"| {labels[name]} | {free:.2f} | {bounded:.2f} |")
    print(f"\nload at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
