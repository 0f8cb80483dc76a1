"""Embedders: OpenAI's through the configured endpoint, and the offline lexical one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memory.embeddings import LexicalEmbedder, OpenAIEmbedder, make_embedder
from tests.fakes import FakeOpenAIServer
from tests.fakes._payloads import embedding_vector


def test_lexical_reflects_shared_wording_and_is_unit_length() -> None:
    """Overlapping wording scores higher than unrelated text; every vector has norm 1."""
    embedder = LexicalEmbedder()
    a, b, c = embedder.embed(
        ["the harbour master rows a green dory", "a green dory rowed by the harbour master",
         "quarterly tax filing deadlines"]
    )  # fmt: skip
    assert float(a @ b) > 0.5 > abs(float(a @ c))
    assert np.allclose(np.linalg.norm(embedder.embed(["x y", "z"]), axis=1), 1.0)
    assert not embedder.embed([""]).any()  # nothing to say, zero vector


def test_lexical_is_deterministic_across_processes() -> None:
    """Same text, same vector in a fresh interpreter (no salted hash())."""
    code = (
        "from memory.embeddings import LexicalEmbedder\n"
        "print(LexicalEmbedder(32).embed(['kites over the dunes'])[0].round(6).tolist())\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )  # fmt: skip
    here = LexicalEmbedder(32).embed(["kites over the dunes"])[0].round(6).tolist()
    assert done.stdout.strip() == str(here)


def test_openai_embeddings_through_the_base_url() -> None:
    """Vectors come from POST /v1/embeddings of the configured server, in input order."""
    with FakeOpenAIServer() as server:
        embedder = OpenAIEmbedder(base_url=server.base_url, dimensions=64)
        vectors = embedder.embed(["one", "two"])
        (request,) = server.requests
    assert request.path == "/v1/embeddings"
    assert request.body is not None and request.body["model"] == "text-embedding-3-small"
    assert request.body["dimensions"] == 64
    assert np.allclose(vectors[1], embedding_vector("two", 64), atol=1e-6)
    assert embedder.name == "openai:text-embedding-3-small-64"


def test_wrong_dimensions_from_the_server_are_an_error() -> None:
    """A model that answers with another size is refused, not mixed in."""
    with FakeOpenAIServer() as server:
        embedder = OpenAIEmbedder(model="other", base_url=server.base_url, dimensions=64)
        with pytest.raises(ValueError, match="1536-dimensional vectors, expected 64"):
            embedder.embed(["one"])


def test_make_embedder_picks_by_settings() -> None:
    """Offline (no key, no URL, or forced) gives the lexical embedder."""
    assert isinstance(make_embedder(api_key=None, base_url=None, offline=False), LexicalEmbedder)
    assert isinstance(make_embedder(api_key="k", base_url=None, offline=True), LexicalEmbedder)
    chosen = make_embedder(api_key=None, base_url="http://127.0.0.1:1/v1", offline=False)
    assert isinstance(chosen, OpenAIEmbedder) and chosen.dims == 1536
