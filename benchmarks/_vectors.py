"""Vector scale: insert rate, single-query latency, recall@10 against exact search, memory.

Data: unit vectors from a mixture of 1,000 Gaussian clusters (what sentence embeddings look
like far more than uniform noise), 384 dims, and 200 held-out queries from the same mixture.
copydesk's `VectorIndex` is flat below 20,000 vectors and HNSW (M=32, efConstruction=80,
efSearch=128) past it. Queries run one at a time on one thread (FAISS's OpenMP threads make
single queries slower on this 2-core machine). Exact neighbours come from a flat scan.
The langchain_community FAISS wrapper gets the same vectors through `add_embeddings`, into a
flat index and (when asked) into the same HNSW index, so the comparison is the wrapper's
per-item cost, not the index type.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from copydesk.memory._faiss import VectorIndex

QUERIES = 200
BATCH = 10_000


def dataset(count: int, dims: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """`count` vectors and `QUERIES` queries, unit length, float32."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((1000, dims)).astype(np.float32)

    def draw(n: int) -> np.ndarray:
        out = np.empty((n, dims), np.float32)
        for start in range(0, n, 100_000):
            size = min(100_000, n - start)
            chunk = centers[rng.integers(0, 1000, size)] + rng.standard_normal((size, dims)).astype(
                np.float32
            )
            out[start : start + size] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
        return out

    return draw(count), draw(QUERIES)


def _latencies(search: Any, queries: np.ndarray) -> tuple[float, float, list[np.ndarray]]:
    faiss.omp_set_num_threads(1)
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        ids = search(query)
        times.append(time.perf_counter() - start)
        found.append(ids)
    faiss.omp_set_num_threads(2)
    micro = np.array(times) * 1e6
    return float(np.percentile(micro, 50)), float(np.percentile(micro, 99)), found


def _recall(found: list[np.ndarray], exact: np.ndarray) -> float:
    pairs = zip(found, exact, strict=True)
    hits = sum(len(set(f[:10].tolist()) & set(e.tolist())) for f, e in pairs)
    return hits / (10 * len(exact))


def ours(
    vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, flat: bool = False
) -> dict[str, Any]:
    """copydesk's VectorIndex (or, with `flat`, kept exact at any size): insert, then query."""
    index = VectorIndex(vectors.shape[1], hnsw_threshold=2**62 if flat else 20_000)
    start = time.perf_counter()
    for offset in range(0, len(vectors), BATCH):
        chunk = vectors[offset : offset + BATCH]
        index.add(np.arange(offset, offset + len(chunk), dtype=np.int64), chunk)
    seconds = time.perf_counter() - start
    p50, p99, found = _latencies(lambda q: index.search(q, 10)[1], queries)
    with tempfile.TemporaryDirectory() as directory:
        size = Path(directory, "i.faiss")
        index.save(size)
        megabytes = size.stat().st_size / 1e6
    return {
        "impl": f"copydesk ({index.kind})",
        "insert/s": len(vectors) / seconds,
        "p50 us": p50,
        "p99 us": p99,
        "recall@10": _recall(found, exact),
        "MB": megabytes,
    }


def langchain(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, kind: str) -> dict:
    """langchain_community's FAISS wrapper over a flat or HNSW inner-product index."""
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.embeddings import FakeEmbeddings

    dims = vectors.shape[1]
    if kind == "flat":
        raw = faiss.IndexFlatIP(dims)
    else:
        raw = faiss.IndexHNSWFlat(dims, 32, faiss.METRIC_INNER_PRODUCT)
        raw.hnsw.efConstruction, raw.hnsw.efSearch = 80, 128
    store = FAISS(
        FakeEmbeddings(size=dims),
        raw,
        InMemoryDocstore(),
        {},
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    start = time.perf_counter()
    for offset in range(0, len(vectors), BATCH):
        chunk = vectors[offset : offset + BATCH]
        pairs = [(f"item {offset + i}", row) for i, row in enumerate(chunk)]
        store.add_embeddings(pairs, ids=[str(offset + i) for i in range(len(chunk))])
    seconds = time.perf_counter() - start

    def search(query: np.ndarray) -> np.ndarray:
        found = store.similarity_search_with_score_by_vector(query.tolist(), k=10)
        return np.array([int(doc.id) for doc, _ in found])

    p50, p99, found = _latencies(search, queries)
    return {
        "impl": f"langchain FAISS ({kind})",
        "insert/s": len(vectors) / seconds,
        "p50 us": p50,
        "p99 us": p99,
        "recall@10": _recall(found, exact),
        "MB": float("nan"),
    }


IMPLS = ("ours", "ours-flat", "langchain-flat", "langchain-hnsw")


def table(
    sizes: list[int], dims: int = 384, langchain_hnsw_max: int = 100_000, impls=IMPLS
) -> list[dict]:
    """Rows per size and implementation (langchain HNSW only up to `langchain_hnsw_max`)."""
    rows = []
    for count in sizes:
        vectors, queries = dataset(count, dims)
        flat = faiss.IndexFlatIP(dims)
        flat.add(vectors)
        exact = flat.search(queries, 10)[1]
        del flat
        if "ours" in impls:
            rows.append({"items": count, **ours(vectors, queries, exact)})
        if "ours-flat" in impls and count > 20_000:
            rows.append({"items": count, **ours(vectors, queries, exact, flat=True)})
        if "langchain-flat" in impls:
            rows.append({"items": count, **langchain(vectors, queries, exact, "flat")})
        if "langchain-hnsw" in impls and count <= langchain_hnsw_max:
            rows.append({"items": count, **langchain(vectors, queries, exact, "hnsw")})
    return rows
