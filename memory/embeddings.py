"""Text embeddings for semantic memory: OpenAI's with a key, a lexical one offline.

Every embedder has a `name` and `dims`; an index remembers both and refuses vectors from
another embedder (`EmbedderMismatchError`), so one index never mixes two vector spaces.

The offline `LexicalEmbedder` hashes words, word pairs and character trigrams into a fixed
number of signed buckets and L2-normalises the result: texts that share wording get a high
cosine similarity, unrelated texts a near-zero one. It is deterministic across processes and
machines (blake2b, not Python's salted `hash`).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_OPENAI_EMBEDDING_MODEL",
    "Embedder",
    "EmbedderMismatchError",
    "LexicalEmbedder",
    "OpenAIEmbedder",
    "make_embedder",
]

DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
Vectors = npt.NDArray[np.float32]
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
     "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with")
)  # fmt: skip


class EmbedderMismatchError(ValueError):
    """An index built with one embedder (or dimension) opened with another."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dims` dimensions."""

    @property
    def name(self) -> str:
        """Identifies the vector space (model and dimensions)."""
        ...

    @property
    def dims(self) -> int:
        """Vector length."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text."""
        ...


def _normalise(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (matrix / norms).astype(np.float32)
    return out


@dataclass(frozen=True)
class LexicalEmbedder:
    """Deterministic offline embedder: hashed words, word pairs and character trigrams.

    Attributes:
        dims: Buckets (vector length).
    """

    dims: int = 384

    @property
    def name(self) -> str:
        """`lexical-v1-<dims>`."""
        return f"lexical-v1-{self.dims}"

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
        features: list[tuple[str, float]] = [(f"w:{w}", 1.0) for w in words]
        features += [(f"b:{a} {b}", 0.5) for a, b in itertools.pairwise(words)]
        for word in words:
            padded = f"<{word}>"
            features += [(f"c:{padded[i : i + 3]}", 0.25) for i in range(len(padded) - 2)]
        return features

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`; an empty text gets the zero vector."""
        matrix = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                number = int.from_bytes(digest, "little")
                sign = 1.0 if number >> 63 else -1.0
                matrix[row, number % self.dims] += sign * weight
        return _normalise(matrix)


@dataclass(frozen=True)
class OpenAIEmbedder:
    """OpenAI (or compatible) embeddings through the same base URL as chat.

    Attributes:
        model: Embedding model.
        api_key: The key; never printed or stored.
        base_url: OpenAI-compatible endpoint; OpenAI's when None.
        dimensions: Vector length (1536 is text-embedding-3-small's native size).
        timeout: Seconds per request.
    """

    model: str = DEFAULT_OPENAI_EMBEDDING_MODEL
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    dimensions: int = 1536
    timeout: float = 60.0

    @property
    def name(self) -> str:
        """`openai:<model>-<dims>`."""
        return f"openai:{self.model}-{self.dimensions}"

    @property
    def dims(self) -> int:
        """Vector length."""
        return self.dimensions

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` in batches of 256, one request each."""
        import openai

        client = openai.OpenAI(
            api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout
        )
        rows: list[list[float]] = []
        with client:
            for start in range(0, len(texts), 256):
                chunk = [t or " " for t in texts[start : start + 256]]
                options: dict[str, Any] = {}
                if self.model.startswith("text-embedding-3") and self.dimensions != 1536:
                    options["dimensions"] = self.dimensions  # older models reject the field
                reply = client.embeddings.create(model=self.model, input=chunk, **options)
                rows += [d.embedding for d in sorted(reply.data, key=lambda d: d.index)]
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        if matrix.shape[1] != self.dimensions:
            raise EmbedderMismatchError(
                f"{self.model} returned {matrix.shape[1]}-dimensional vectors, expected "
                f"{self.dimensions}; set COPYDESK_EMBEDDING_DIMS to match the model"
            )
        return _normalise(matrix)


def make_embedder(
    *,
    api_key: str | None,
    base_url: str | None,
    offline: bool,
    model: str = DEFAULT_OPENAI_EMBEDDING_MODEL,
    dims: int | None = None,
) -> Embedder:
    """OpenAI embeddings when a key or base URL is set (and not offline), else lexical."""
    if offline or (api_key is None and base_url is None):
        return LexicalEmbedder(dims or 384)
    return OpenAIEmbedder(model=model, api_key=api_key, base_url=base_url, dimensions=dims or 1536)
