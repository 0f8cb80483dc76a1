"""What the FaissStore tests share: one small deterministic embedder and the words its texts
are made of."""

from __future__ import annotations

from copydesk.memory.embeddings import LexicalEmbedder

EMBEDDER = LexicalEmbedder(64)
WORDS = ["harbour", "crane", "night", "train", "river", "kite", "salt", "bread", "lamp", "fog"]
