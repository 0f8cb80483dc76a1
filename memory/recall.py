"""What agents remember across a thread and a project, and recall before each call.

Memories are store items `{"kind", "text", "round", "thread", "agent"}` in two namespaces:
`("copydesk", "thread", <thread id>)` for one thread and `("copydesk", "project",
<project>)` for what every thread of a project shares (user facts and accepted drafts).
Kinds are `fact` (something the user said), `issue` (an editor's issue) and `revision` (a
draft the editor accepted). Before a call
an agent searches both namespaces with what it is working on (what the user just said, else
the topic and the open issues), keeps the top `k` after maximal-marginal-relevance
de-duplication that fit in `max_tokens`, and gets them as one message after the system
prompt.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.store.base import BaseStore, PutOp, SearchItem, SearchOp

from copydesk.memory.tokens import TokenCounter, vocabulary_for_model, vocabulary_loaded

__all__ = [
    "DEFAULT_PROJECT",
    "PROJECT_CAPACITY",
    "Memory",
    "RecallPolicy",
    "project_namespace",
    "thread_namespace",
]

DEFAULT_PROJECT = "default"
PROJECT_CAPACITY = 2_000
"""Memories a project keeps: every thread adds to it, so it is bounded; past it, a new
memory pushes out the one least recently recalled (or written). Thread namespaces are not
bounded: a thread's memories grow with its own rounds only."""
MemoryKind = Literal["fact", "issue", "revision"]
RECALL_NAME = "memory"
"""Name of the recall message, so tests and transcripts can find it."""


def thread_namespace(thread_id: str) -> tuple[str, ...]:
    """Where one thread's memories live."""
    return ("copydesk", "thread", thread_id)


def project_namespace(project: str) -> tuple[str, ...]:
    """Where a project's memories live (shared by its threads)."""
    return ("copydesk", "project", project)


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def diverse(items: Sequence[SearchItem], count: int, weight: float = 0.5) -> list[SearchItem]:
    """Maximal marginal relevance: the best-scored items that are not near-copies of each other.

    Each pick maximises `weight * score - (1 - weight) * overlap`, where overlap is the
    highest word-set Jaccard similarity to an item already picked. Ten near-identical
    requests would otherwise fill every slot and push out the one fact that answers them.
    """
    pool = sorted(items, key=lambda i: -(i.score or 0.0))
    words = [_words(str(i.value.get("text", ""))) for i in pool]
    sizes = [len(w) for w in words]
    # Each candidate's highest overlap with the picks so far, brought up to date against the
    # newest pick only: O(pool x count) set operations, not O(pool x count^2).
    overlap = [0.0] * len(pool)
    gain = [weight * (item.score or 0.0) for item in pool]
    penalty = 1 - weight
    left = set(range(len(pool)))
    picked: list[int] = []
    while left and len(picked) < count:
        # The highest value, the lowest index among equals (a plain loop: recall runs before
        # every call, and a key function per candidate per pick was most of its CPU).
        best, top = -1, 0.0
        for n in left:
            value = gain[n] - penalty * overlap[n]
            if best < 0 or value > top or (value == top and n < best):
                best, top = n, value
        picked.append(best)
        left.discard(best)
        newest, size = words[best], sizes[best]
        for n in left:
            shared = len(words[n] & newest)
            if shared:
                similarity = shared / (sizes[n] + size - shared)  # |A & B| / |A | B|
                if similarity > overlap[n]:
                    overlap[n] = similarity
    return [pool[n] for n in picked]


@dataclass(frozen=True)
class Memory:
    """One thing worth remembering.

    Attributes:
        key: Stable key (a message id, say), so storing it twice keeps one copy.
        kind: `fact`, `issue` or `revision`.
        text: What to remember.
        round: The round it came from.
        agent: Who said it.
        project_wide: Also store it under the project.
    """

    key: str
    kind: MemoryKind
    text: str
    round: int
    agent: str
    project_wide: bool = False


@dataclass(frozen=True)
class RecallPolicy:
    """How many memories an agent recalls, within what budget, from which project.

    Attributes:
        k: Memories recalled at most (2k are fetched from each namespace, then deduplicated).
        max_tokens: Budget for the recall message.
        project: Project name (the second namespace).
        model: Model whose tokenizer counts the budget.
    """

    k: int = 8
    max_tokens: int = 800
    project: str = DEFAULT_PROJECT
    model: str = "gpt-4o-mini"

    def namespaces(self, thread_id: str) -> list[tuple[str, ...]]:
        """The thread's namespace, then the project's."""
        return [thread_namespace(thread_id), project_namespace(self.project)]

    async def recall(
        self, store: BaseStore, thread_id: str, query: str, visible: Iterable[str] = ()
    ) -> BaseMessage | None:
        """The recall message for `query`, or None when nothing relevant fits.

        Args:
            store: Where memories are.
            thread_id: The thread being worked on.
            query: What the agent is working on (latest request, feedback, draft).
            visible: Texts already in the prompt; not repeated.
        """
        if not query.strip():
            return None
        ops = [SearchOp(ns, query=query, limit=3 * self.k) for ns in self.namespaces(thread_id)]
        results = await store.abatch(ops)
        found = [i for r in results if isinstance(r, list) for i in r if isinstance(i, SearchItem)]
        seen = {t.strip() for t in visible}
        found = diverse(
            [i for i in found if str(i.value.get("text", "")).strip() not in seen], self.k * 2
        )
        counter = TokenCounter(self.model)
        head = "Remembered from earlier in this thread and project:"
        candidates: list[str] = []
        for item in found:
            text = str(item.value.get("text", "")).strip()
            if not text or text in seen:
                continue
            seen.add(text)
            candidates.append(
                f"- ({item.value.get('kind')}, round {item.value.get('round')}) {text}"
            )
        bound = (
            counter.text_bound(head)
            + 8
            + sum(counter.text_bound(c) + 1 for c in candidates[: self.k])
        )
        if bound > self.max_tokens and not vocabulary_loaded(self.model):
            # Counting is needed; the vocabulary it reads loads off the event loop.
            await asyncio.to_thread(vocabulary_for_model, self.model)
        count = counter.upper if bound > self.max_tokens else counter.text_bound
        lines: list[str] = []
        spent = count(head) + 8
        for line in candidates:
            cost = count(line) + 1
            if spent + cost > self.max_tokens:
                continue
            spent += cost
            lines.append(line)
            if len(lines) == self.k:
                break
        if not lines:
            return None
        return HumanMessage("\n".join([head, *lines]), name=RECALL_NAME)

    async def remember(self, store: BaseStore, thread_id: str, memories: Sequence[Memory]) -> None:
        """Store memories under the thread (and the project when `project_wide`)."""
        ops: list[PutOp] = []
        for memory in memories:
            value: dict[str, Any] = {
                "kind": memory.kind,
                "text": memory.text,
                "round": memory.round,
                "thread": thread_id,
                "agent": memory.agent,
            }
            ops.append(PutOp(thread_namespace(thread_id), memory.key, value))
            if memory.project_wide:
                ops.append(PutOp(project_namespace(self.project), memory.key, value))
        if ops:
            await store.abatch(ops)
