"""`VectorIndex` on its own: vectors held in NumPy then FAISS, or ids only below the line into
FAISS (the store's cache), and `Spaces`, the per-prefix indexes of approximate searches."""

from __future__ import annotations

import numpy as np
import pytest

from copydesk.memory._faiss import VectorIndex
from copydesk.memory._spaces import Spaces


def _unit(count: int, dims: int = 8, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dims)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_held_vectors_are_searched_and_read_back_before_and_after_faiss() -> None:
    vectors = _unit(12)
    index = VectorIndex(8, faiss_from=6)
    index.add(np.arange(10, 16), vectors[:6])
    assert index.search(vectors[3], 1)[1][0] == 13
    assert np.allclose(index.reconstruct(np.array([12])), vectors[2])
    with pytest.raises(RuntimeError, match="not in the index"):
        index.reconstruct(np.array([99]))
    index.remove(np.array([10]))
    index.add(np.arange(16, 22), vectors[6:])  # past faiss_from: every held vector moves
    assert index.size == 11 and index.search(vectors[9], 1)[1][0] == 19
    assert np.allclose(index.reconstruct(np.array([11])), vectors[1])
    with pytest.raises(ValueError, match="dims"):
        index.add(np.array([1]), _unit(1, dims=4))


def test_an_ids_only_index_keeps_no_vector_and_says_so() -> None:
    index = VectorIndex(8, faiss_from=6, hold=False)
    assert index.all()[0].size == 0  # empty: nothing to miss
    index.add(np.arange(4), _unit(4))
    index.remove(np.array([1]))
    assert index.size == 3 and not index.moves_with(3) and index.moves_with(4)
    index.add_ids(np.array([7, 8]))
    with pytest.raises(ValueError, match="ids alone"):
        index.add_ids(np.array([9, 10]))  # past faiss_from: FAISS needs the vectors
    with pytest.raises(ValueError, match="ids alone"):
        VectorIndex(8).add_ids(np.array([1]))
    for read in (
        lambda: index.reconstruct(np.array([0])),
        lambda: index.search(_unit(1)[0], 1),
        index.all,
    ):
        with pytest.raises(RuntimeError, match="ids only"):
            read()


def test_spaces_keep_the_last_prefixes_searched_and_let_go_on_clear() -> None:
    vectors = _unit(6)
    spaces = Spaces(8, kept=1)
    spaces.of(("a",), np.arange(3), lambda ids: vectors[ids])
    spaces.of(("b",), np.arange(3, 6), lambda ids: vectors[ids])
    spaces.of(("a",), np.arange(3), lambda ids: vectors[ids])  # ("a",) had gone: read again
    assert spaces.loaded == 9
    spaces.clear()
    spaces.of(("a",), np.arange(3), lambda ids: vectors[ids])
    assert spaces.loaded == 12
