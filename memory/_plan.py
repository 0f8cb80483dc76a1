"""What one `FaissStore` batch sends to the embedder: at most one request in the usual case.

A batch needs vectors for its search queries and, with a local embedder, for the texts it
puts. With a remote embedder (one request per call) the texts it puts wait (`pending`) and
ride along with the next request the store makes anyway, a search's; that request also
carries every text still waiting from earlier batches, other threads or other processes,
and texts whose embedding failed before. Identical texts are sent once, and query vectors
are kept in a small LRU cache, so asking the thread and the project namespaces the same
question costs one input, and asking it again costs nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import Op, PutOp, SearchOp
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from copydesk.memory._rows import Pending

__all__ = ["MAX_INPUTS", "Plan", "VectorCache", "chunks", "plan", "texts_of"]

MAX_INPUTS = 256
"""Texts per embedding request."""
MAX_CHARS = 400_000
"""Characters per embedding request (about 100k tokens, a third of OpenAI's cap)."""

Field = tuple[str, str | list[str]]
"""A JSON path to index and its tokens (`$` stands for the whole value)."""


def texts_of(op: PutOp, fields: Sequence[Field]) -> list[tuple[str, str]]:
    """(path, text) to embed for a put: its `index` paths, else the store's fields."""
    if op.value is None or op.index is False:
        return []
    paths = fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
    out: list[tuple[str, str]] = []
    for path, tokens in paths:
        found = get_text_at_path(op.value, tokens)
        out += [(f"{path}.{i}" if len(found) > 1 else path, t) for i, t in enumerate(found)]
    return out


class VectorCache:
    """Vectors of recently embedded queries, least recently used dropped past `size`."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._vectors: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Any | None:
        """The vector of `text`, if cached."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
            return vector

    def put(self, text: str, vector: Any) -> None:
        """Remember the vector of `text`."""
        with self._lock:
            self._vectors[text] = vector
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)


@dataclass
class Plan:
    """The embedding work of one batch.

    Attributes:
        queries: Distinct search queries of the batch.
        backlog: Pending texts this batch embeds (claimed, so no other batch sends them).
        texts: Distinct texts to send, queries not in the cache first.
        vectors: Text -> vector, filled from the cache and the embedder's answer.
        error: Why the request failed, if it did (the batch's searches raise it).
    """

    queries: list[str] = field(default_factory=list)
    backlog: list[Pending] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    vectors: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


def plan(
    ops: Iterable[Op],
    cache: VectorCache,
    backlog: Sequence[Pending],
    fields: Sequence[Field],
    *,
    embed_puts: bool,
) -> Plan:
    """The texts a batch must embed: its queries, its puts' texts when `embed_puts`, and,
    when it makes a request anyway, the `backlog` (the caller claims `result.backlog`)."""
    result = Plan()
    wanted: dict[str, None] = {}
    for op in ops:
        if isinstance(op, SearchOp) and op.query:
            result.queries.append(op.query)
            vector = cache.get(op.query)
            if vector is None:
                wanted[op.query] = None
            else:
                result.vectors[op.query] = vector
        elif isinstance(op, PutOp) and embed_puts:
            for _, text in texts_of(op, fields):
                if cache.get(text) is None:
                    wanted[text] = None
    if wanted or (result.queries and backlog):
        result.backlog = list(backlog)
        for row in backlog:
            wanted[row[3]] = None
    result.texts = list(wanted)
    return result


def chunks(texts: Sequence[str]) -> list[list[str]]:
    """`texts` split into requests of at most `MAX_INPUTS` texts and `MAX_CHARS` characters."""
    out: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if out[-1] and (len(out[-1]) == MAX_INPUTS or size + len(text) > MAX_CHARS):
            out.append([])
            size = 0
        out[-1].append(text)
        size += len(text)
    return [c for c in out if c]
