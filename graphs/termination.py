"""Why a run ends: conditions shared by every topology, checked after each review.

An ending is a small frozen value with a `name`, a `status` and a test on the state. A
topology takes a tuple of them (compose with `+`, or `Approved() | MaxRounds(5)`); the first
that holds ends the run, and its status and name (`ended_by`) are recorded, so the result
always says which one ended it. Running out of rounds is a normal ending, never a
`GraphRecursionError`.

When the state asks for human review (`review: true`), an ending does not end the run: it
hands the draft to the `human_review` node instead, which every topology has.
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

from copydesk.agents.budgets import budget_refused
from copydesk.agents.state import DraftState, DraftUpdate, Status, add_usage

__all__ = [
    "DEFAULT_ENDINGS",
    "DEFAULT_MAX_ROUNDS",
    "HUMAN_REVIEW",
    "AllAgree",
    "Approved",
    "Completed",
    "CostBudget",
    "Ending",
    "Endings",
    "MaxRounds",
    "NoChange",
    "TokenBudget",
    "ending_of",
    "finish",
    "first_ending",
    "preview",
    "then_decide",
    "with_max_rounds",
]

DEFAULT_MAX_ROUNDS = 3
HUMAN_REVIEW = "human_review"
"""The node every topology routes to instead of END when the state asks for review."""
Node = Callable[[DraftState, RunnableConfig], Awaitable[DraftUpdate]]


class RoutingNode(Protocol):
    """A node that returns its update together with where to go next (no store)."""

    async def __call__(self, state: DraftState, config: RunnableConfig) -> Command[str]:
        """Run, then route."""
        ...


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
    def name(self) -> str:
        """What the result's `ended_by` says when this ending stopped the run."""
        ...

    @property
    def status(self) -> Status:
        """The status a run ended by this condition gets."""
        ...

    def __call__(self, state: DraftState) -> bool:
        """True when the run should end."""
        ...


class Endings(tuple[Ending, ...]):
    """Endings composed with `|`: the first that holds ends the run."""

    def __or__(self, other: object) -> Endings:
        extra = tuple(other) if isinstance(other, tuple) else (other,)
        return Endings((*self, *extra))


class _Composable:
    """Lets one ending be composed with another: `Approved() | MaxRounds(5)`."""

    def __or__(self, other: object) -> Endings:
        extra = tuple(other) if isinstance(other, tuple) else (other,)
        return Endings((self, *extra))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Approved(_Composable):
    """The latest verdict approves the draft."""

    name: str = "approved"
    status: Status = "approved"

    def __call__(self, state: DraftState) -> bool:
        verdicts = state.get("verdicts") or []
        return bool(verdicts) and verdicts[-1]["decision"] == "approve"


@dataclass(frozen=True)
class MaxRounds(_Composable):
    """The writer has used every round (`max_rounds` in the state, else `default`)."""

    default: int = DEFAULT_MAX_ROUNDS
    name: str = "max_rounds"
    status: Status = "out_of_rounds"

    def __call__(self, state: DraftState) -> bool:
        return state.get("round", 0) >= state.get("max_rounds", self.default)


@dataclass(frozen=True)
class AllAgree(_Composable):
    """Every reviewer who gave a verdict on the current draft approves it."""

    name: str = "all_agree"
    status: Status = "approved"

    def __call__(self, state: DraftState) -> bool:
        round_ = state.get("round", 0)
        current = [v for v in state.get("verdicts") or [] if v["round"] == round_]
        latest = {v["agent"]: v["decision"] for v in current}  # a reviewer's last word counts
        return bool(latest) and all(d == "approve" for d in latest.values())


def _total_tokens(state: DraftState) -> tuple[int, int]:
    usage = state.get("usage") or {}
    return (
        sum(u["prompt_tokens"] for u in usage.values()),
        sum(u["completion_tokens"] for u in usage.values()),
    )


@dataclass(frozen=True)
class TokenBudget(_Composable):
    """The thread has used `limit` tokens or more (`token_budget` in the state wins; 0 = none)."""

    limit: int = 0
    name: str = "token_budget"
    status: Status = "over_budget"

    def __call__(self, state: DraftState) -> bool:
        limit = state.get("token_budget") or self.limit
        return limit > 0 and sum(_total_tokens(state)) >= limit


@dataclass(frozen=True)
class CostBudget(_Composable):
    """The thread has spent `limit_usd` or more (`max_cost` in the state wins; 0 = none).

    Spending is the `cost_usd` the client priced each call at (its price table), summed.
    """

    limit_usd: float = 0.0
    name: str = "cost_budget"
    status: Status = "over_budget"

    def __call__(self, state: DraftState) -> bool:
        limit = state.get("max_cost") or self.limit_usd
        spent = sum(u.get("cost_usd", 0.0) for u in (state.get("usage") or {}).values())
        return limit > 0 and spent >= limit


@dataclass(frozen=True)
class NoChange(_Composable):
    """The last two drafts are the same text: another round would not help."""

    name: str = "no_change"
    status: Status = "unchanged"

    def __call__(self, state: DraftState) -> bool:
        revisions = state.get("revisions") or []
        return (
            len(revisions) >= 2 and revisions[-1]["text"].strip() == revisions[-2]["text"].strip()
        )


@dataclass(frozen=True)
class Completed(_Composable):
    """Always holds: for topologies that end after one pass (the pipeline)."""

    name: str = "completed"
    status: Status = "completed"

    def __call__(self, state: DraftState) -> bool:
        return True


DEFAULT_ENDINGS: Endings = Endings((Approved(), MaxRounds(), TokenBudget(), CostBudget()))
"""Approved, out of rounds, or over the state's `token_budget` or `max_cost`. Add
`NoChange()` to stop when the writer repeats itself."""


def ending_of(endings: Sequence[Ending], state: DraftState) -> Ending | None:
    """The first ending that holds, or None to go on."""
    for ending in endings:
        if ending(state):
            return ending
    return None


def first_ending(endings: Sequence[Ending], state: DraftState) -> Status | None:
    """The status of the first ending that holds, or None to go on."""
    ending = ending_of(endings, state)
    return None if ending is None else ending.status


def preview(state: DraftState, update: DraftUpdate) -> DraftState:
    """`state` with `update` applied, enough for endings to judge (lists append, usage adds)."""
    merged: dict[str, Any] = dict(state)
    for key, value in update.items():
        if key in ("verdicts", "revisions", "messages"):
            merged[key] = [*(state.get(key) or []), *value]  # type: ignore[misc]
        elif key == "usage":
            merged[key] = add_usage(state.get("usage"), value)  # type: ignore[arg-type]
        else:
            merged[key] = value
    return merged  # type: ignore[return-value]


def finish(state: DraftState, ending: Ending) -> tuple[DraftUpdate, str]:
    """The update and destination for a run that `ending` stops: END, or human review first."""
    update: DraftUpdate = {"status": ending.status, "ended_by": ending.name}
    return update, (HUMAN_REVIEW if state.get("review") else END)


def then_decide(
    node: Node, endings: Sequence[Ending], otherwise: str, *, review: bool = True
) -> DecidingNode:
    """Wrap `node` so it also routes: to END with a status when an ending holds, else on.

    With `review` set in the state (and `review=True` here), an ending routes to
    `human_review` instead of END. Routing inside the node (a `Command`) saves LangGraph a
    separate router step per turn.
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
        # Pass the injected store on to nodes that declare it.
        update = await (node(state, config, store=store) if takes_store else node(state, config))  # type: ignore[call-arg]
        after = preview(state, update)
        ending = budget_refused(after) or ending_of(endings, after)
        if ending is None:
            return Command(update=update, goto=otherwise)
        done, goto = finish(after if review else {**after, "review": False}, ending)
        return Command(update={**update, **done}, goto=goto)

    decide.__name__ = getattr(node, "name", "decide")
    return decide


def with_max_rounds(endings: Sequence[Ending], max_rounds: int | None) -> Endings:
    """`endings` with every `MaxRounds` defaulting to `max_rounds` (unchanged when None)."""
    if max_rounds is None:
        return Endings(endings)
    return Endings(MaxRounds(max_rounds) if isinstance(e, MaxRounds) else e for e in endings)
