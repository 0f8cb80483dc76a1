"""Why a run ends: conditions shared by every topology, checked after each review.

An ending is a small frozen value with a `status` name and a test on the state. A topology
takes a tuple of them; the first that holds ends the run and its status is recorded, so the
result always says which one ended it. Running out of rounds is a normal ending, never a
`GraphRecursionError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.store.base import BaseStore
from langgraph.types import Command

from agents.state import DraftState, DraftUpdate, Status, add_usage

__all__ = [
    "DEFAULT_ENDINGS",
    "DEFAULT_MAX_ROUNDS",
    "Approved",
    "Ending",
    "MaxCost",
    "MaxRounds",
    "first_ending",
    "then_decide",
]

DEFAULT_MAX_ROUNDS = 3
Node = Callable[[DraftState, RunnableConfig], Awaitable[DraftUpdate]]


class DecidingNode(Protocol):
    """A node that returns its update together with where to go next."""

    async def __call__(
        self,
        state: DraftState,
        config: RunnableConfig,
        *,
        # LangGraph injects the store only into a parameter annotated exactly
        # `Optional[BaseStore]` or `BaseStore`; it does not recognise `BaseStore | None`.
        store: Optional[BaseStore] = None,  # noqa: UP045
    ) -> Command[str]:
        """Run the wrapped node, then route."""
        ...


class Ending(Protocol):
    """A condition that ends a run."""

    @property
    def status(self) -> Status:
        """The status a run ended by this condition gets."""
        ...

    def __call__(self, state: DraftState) -> bool:
        """True when the run should end."""
        ...


@dataclass(frozen=True)
class Approved:
    """The latest verdict approves the draft."""

    status: Status = "approved"

    def __call__(self, state: DraftState) -> bool:
        verdicts = state.get("verdicts") or []
        return bool(verdicts) and verdicts[-1]["decision"] == "approve"


@dataclass(frozen=True)
class MaxRounds:
    """The writer has used every round (`max_rounds` in the state, else `default`)."""

    default: int = DEFAULT_MAX_ROUNDS
    status: Status = "out_of_rounds"

    def __call__(self, state: DraftState) -> bool:
        return state.get("round", 0) >= state.get("max_rounds", self.default)


@dataclass(frozen=True)
class MaxCost:
    """The thread has spent its budget (`max_cost` USD in the state; no limit when absent)."""

    status: Status = "over_budget"

    def __call__(self, state: DraftState) -> bool:
        limit = state.get("max_cost")
        if limit is None:
            return False
        spent = sum(u.get("cost_usd", 0.0) for u in (state.get("usage") or {}).values())
        return spent >= limit


DEFAULT_ENDINGS: tuple[Ending, ...] = (Approved(), MaxRounds(), MaxCost())


def first_ending(endings: Sequence[Ending], state: DraftState) -> Status | None:
    """The status of the first ending that holds, or None to go on."""
    for ending in endings:
        if ending(state):
            return ending.status
    return None


def _preview(state: DraftState, update: DraftUpdate) -> DraftState:
    """`state` with `update` applied, enough for endings to judge (lists append)."""
    merged: dict[str, Any] = dict(state)
    for key, value in update.items():
        if key in ("verdicts", "revisions", "messages"):
            merged[key] = [*(state.get(key) or []), *value]  # type: ignore[misc]
        elif key == "usage":
            merged[key] = add_usage(state.get("usage"), value)  # type: ignore[arg-type]
        else:
            merged[key] = value
    return merged  # type: ignore[return-value]


def then_decide(node: Node, endings: Sequence[Ending], otherwise: str) -> DecidingNode:
    """Wrap `node` so it also routes: to END with a status when an ending holds, else on.

    Routing inside the node (a `Command`) saves LangGraph a separate router step per turn.
    """

    takes_store = "store" in inspect.signature(node).parameters

    async def decide(
        state: DraftState,
        config: RunnableConfig,
        *,
        # LangGraph injects the store only into a parameter annotated exactly
        # `Optional[BaseStore]` or `BaseStore`; it does not recognise `BaseStore | None`.
        store: Optional[BaseStore] = None,  # noqa: UP045
    ) -> Command[str]:
        # LangGraph injects `store` into nodes that declare it; pass it on to those that do.
        update = await (node(state, config, store=store) if takes_store else node(state, config))  # type: ignore[call-arg]
        status = first_ending(endings, _preview(state, update))
        if status is None:
            return Command(update=update, goto=otherwise)
        return Command(update={**update, "status": status}, goto=END)

    decide.__name__ = getattr(node, "name", "decide")
    return decide
