"""Whether a citing sentence is supported by its source: by its wording and by its meaning.

A thread's sources are put in the memory store under the thread (`sources_namespace`): each
passage, and each sentence of a passage of several, is one item indexed by the store's
embedder. A sentence citing source `[n]` is then judged on three signals:

- **numbers**: every number in the sentence is in the source (a changed year or amount is
  the contradiction neither wording nor meaning catches);
- **lexical**: the largest share of the sentence's content words one passage holds
  (`copydesk.memory.sources.support`);
- **embedding**: the cosine similarity of the sentence to the closest item of its source, as
  the store's search scores it.

It is supported when its numbers are in the source and either its meaning is close
(embedding >= `strong`) or it shares the wording and is near in meaning (lexical >=
`lexical` and embedding >= `weak`). The thresholds depend on the embedder, whose cosines
differ in scale (`THRESHOLDS`, measured in docs/long-documents.md). Without a store (memory
off) or without an index, the lexical embedder scores the source's items in process, so the
verdict never depends on whether memory is on beyond which embedder measures meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from langgraph.store.base import BaseStore, PutOp

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.sources import SourceRecord, content_words, support

__all__ = [
    "DEFAULT_THRESHOLDS",
    "THRESHOLDS",
    "Support",
    "Thresholds",
    "judge",
    "numbers",
    "shelve",
    "source_units",
    "sources_namespace",
    "thresholds_for",
]


def sources_namespace(thread_id: str) -> tuple[str, ...]:
    """Where a thread's sources live in the store (apart from its memories, so recall
    never offers a source passage as something remembered)."""
    return ("copydesk", "sources", thread_id)


@dataclass(frozen=True)
class Thresholds:
    """When a citing sentence counts as supported (see the module docstring).

    Attributes:
        strong: Embedding similarity that is enough on its own (a paraphrase).
        weak: Embedding similarity enough with shared wording.
        lexical: Share of content words that counts as shared wording.
    """

    strong: float
    weak: float
    lexical: float = 0.4


THRESHOLDS = {
    "lexical-v1": Thresholds(strong=0.6, weak=0.45),
    "minilm-": Thresholds(strong=0.75, weak=0.7),
}
"""Thresholds by embedder name prefix, measured on the set in docs/long-documents.md."""
DEFAULT_THRESHOLDS = Thresholds(strong=0.7, weak=0.55)
"""For an embedder not measured here (a server's, such as text-embedding-3-small)."""


def thresholds_for(embedder: str) -> Thresholds:
    """The thresholds for the embedder named `embedder`."""
    return next((t for p, t in THRESHOLDS.items() if embedder.startswith(p)), DEFAULT_THRESHOLDS)


_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def numbers(text: str) -> set[str]:
    """The numbers written with digits in `text`, without thousands separators."""
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def source_units(source: SourceRecord) -> list[str]:
    """What a sentence is compared with: each passage, and each sentence of a passage that
    has several (a short claim is closest to the one sentence that makes it)."""
    units: list[str] = []
    for passage in source["passages"]:
        units.append(passage)
        sentences = [s.strip() for s in _SENTENCE.findall(passage) if s.strip()]
        units += sentences if len(sentences) > 1 else []
    return list(dict.fromkeys(units))


async def shelve(store: BaseStore, thread_id: str, sources: list[SourceRecord]) -> int:
    """Put every source's items in the store under the thread (same keys each time, so
    doing it again changes nothing); returns how many."""
    ops = [
        PutOp(
            sources_namespace(thread_id),
            f"{source['number']}.{n}",
            {"kind": "source", "source": source["number"], "name": source["name"], "text": unit},
        )
        for source in sources
        for n, unit in enumerate(source_units(source))
    ]
    await store.abatch(ops)
    return len(ops)


@dataclass(frozen=True)
class Support:
    """How well one source supports one sentence, and the verdict.

    Attributes:
        lexical: Largest share of the sentence's content words one passage holds.
        embedding: Cosine similarity to the closest item of the source.
        embedder: The embedder that measured it.
        missing: Numbers of the sentence the source does not have.
        supported: The verdict under the embedder's thresholds.
    """

    lexical: float
    embedding: float
    embedder: str
    missing: tuple[str, ...]
    supported: bool


async def _embedding(
    sentence: str, source: SourceRecord, store: BaseStore | None, thread_id: str
) -> tuple[float, str]:
    """The closest item's similarity, by the store's search, else by the lexical embedder."""
    if store is not None and thread_id:
        found = await store.asearch(
            sources_namespace(thread_id),
            query=sentence,
            filter={"source": source["number"]},
            limit=4,
        )
        scores = [i.score for i in found if i.score is not None]
        embedder = getattr(getattr(store, "embedder", None), "name", "")
        if scores:
            return max(scores), str(embedder)
    local = LexicalEmbedder()
    units = source_units(source)
    vectors = local.embed([sentence, *units])
    best = float(np.max(vectors[1:] @ vectors[0])) if units else 0.0
    return best, local.name


async def judge(
    sentence: str, source: SourceRecord, *, store: BaseStore | None = None, thread_id: str = ""
) -> Support:
    """Whether `source` supports `sentence`, its items searched in `store` under
    `thread_id` (put there by `shelve`). A sentence that claims nothing (no content word)
    is supported."""
    if not content_words(sentence):
        return Support(1.0, 1.0, "", (), True)
    lexical = support(sentence, source["passages"])
    embedding, embedder = await _embedding(sentence, source, store, thread_id)
    missing = tuple(sorted(numbers(sentence) - numbers(" ".join(source["passages"]))))
    limits = thresholds_for(embedder)
    near = embedding >= limits.strong or (lexical >= limits.lexical and embedding >= limits.weak)
    return Support(lexical, embedding, embedder, missing, near and not missing)
