"""Why a run ends: the endings every topology shares, checked after each review.

A topology takes its endings (`copydesk.graphs.endings`, re-exported here) composed with `|`
and `&`: `Approved() | MaxRounds(5)`; the first that holds ends the run, and its status and
name (`ended_by`) are recorded, so the result always says which one ended it. Running out of
rounds is a normal ending, never a `GraphRecursionError`.

A thread run with `--until EXPR` keeps the expression in its state (`until`); it replaces the
topology's endings, while the limits (rounds, tokens, cost) still hold (`until_endings`).

When the state asks for human review (`review: true`), an ending does not end the run: it
hands the draft to the `human_review` node instead, which every topology has.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Optional, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.store.base import BaseStore
from langgraph.types import Command

from copydesk.agents.budgets import budget_refused
from copydesk.agents.state import DraftState, DraftUpdate, Status, add_usage
from copydesk.graphs.endings import (
    DEFAULT_ENDINGS,
    DEFAULT_MAX_ROUNDS,
    NAMED_ENDINGS,
    AllAgree,
    AllOf,
    Approved,
    Completed,
    CostBudget,
    Ending,
    Endings,
    MaxRounds,
    NoChange,
    Reached,
    TokenBudget,
    narrowed,
)
from copydesk.graphs.until import until_endings

__all__ = [
    "DEFAULT_ENDINGS",
    "DEFAULT_MAX_ROUNDS",
    "HUMAN_REVIEW",
    "NAMED_ENDINGS",
    "AllAgree",
    "AllOf",
    "Approved",
    "Completed",
    "CostBudget",
    "Ending",
    "Endings",
    "MaxRounds",
    "NoChange",
    "Reached",
    "TokenBudget",
    "ending_of",
    "finish",
    "first_ending",
    "preview",
    "then_decide",
    "until_endings",
    "with_max_rounds",
]

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


def ending_of(endings: Sequence[Ending], state: DraftState) -> Ending | None:
    """The first ending that holds, or None to go on (the state's `until`, when set,
    replaces `endings`; see `until_endings`)."""
    chosen = until_endings(state["until"]) if state.get("until") else endings
    for ending in chosen:
        if ending(state):
            return narrowed(ending, state)
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
