"""Text embeddings for semantic memory: the interface, and the lexical embedder used offline.

Every embedder has a `name` and `dims`; an index remembers both and refuses vectors from
another embedder (`EmbedderMismatchError`), so one index never mixes two vector spaces.
An embedder that calls a server (`remote`) is built by the model client
(`copydesk.agents.client.embeddings`), which gives it the client's rate limiter, retries and circuit
breaker, and injected where the store is made: `memory` imports nothing of `agents`.

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
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from copydesk.memory.errors import StoreError

__all__ = [
    "DEFAULT_OPENAI_EMBEDDING_MODEL",
    "Embedder",
    "EmbedderMismatchError",
    "LexicalEmbedder",
    "normalise",
]

DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
Vectors = npt.NDArray[np.float32]
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
     "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with")
)  # fmt: skip


class EmbedderMismatchError(StoreError, ValueError):
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

    @property
    def remote(self) -> bool:
        """True when each call is a network request (the store then batches texts)."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text (blocks; never call it on an event loop)."""
        ...

    async def aembed(self, texts: Sequence[str]) -> Vectors:
        """One row per text."""
        ...


def normalise(matrix: Vectors) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
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

    @property
    def remote(self) -> bool:
        """Local: no request to batch."""
        return False

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
        return normalise(matrix)

    async def aembed(self, texts: Sequence[str]) -> Vectors:
        """`embed` (microseconds per text: not worth a thread)."""
        return self.embed(texts)
