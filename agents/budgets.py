"""How a node spends within its thread's budget, and how it ends when the budget says no.

`within_budget` wraps a node's `__call__`: the model calls it makes hold from the thread's
`Allowance` (its state's `token_budget` and `max_cost` less what it spent), and a call the
budget refuses (`BudgetSpentError`) ends the node with `status: over_budget` and the ending's
name in `ended_by`, with whatever it spent recorded. The routing (`then_decide`) then ends
the run; nodes after it in the same step see the status and send nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar, cast

from langchain_core.runnables import RunnableConfig

from copydesk.agents.client.budget import Allowance, allowance_scope
from copydesk.agents.document import SectionState
from copydesk.agents.errors import BudgetSpentError
from copydesk.agents.state import DraftUpdate, Status, usage_total

__all__ = [
    "BudgetRefused",
    "allowance_of",
    "budget_ended",
    "budget_refused",
    "section_budget",
    "spent_update",
    "within_budget",
]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def allowance_of(state: Mapping[str, Any], config: RunnableConfig) -> Allowance | None:
    """The allowance of the thread `config` runs, as `state` gives it (None: no budget)."""
    thread = str((config.get("configurable") or {}).get("thread_id", "local"))
    return Allowance.of(state, thread)


def spent_update(name: str, spent: BudgetSpentError) -> DraftUpdate:
    """The update of node `name` whose call the budget refused or cut."""
    update: DraftUpdate = {"status": "over_budget", "ended_by": spent.ending}
    if spent.usage is not None and spent.usage["calls"]:
        update["usage"] = {name: spent.usage}
    return update


def within_budget(call: F) -> F:
    """Run a node method (`self, state, config, ...`) within its thread's budget."""

    @functools.wraps(call)
    async def run(
        self: Any, state: Mapping[str, Any], config: RunnableConfig, *args: Any, **kwargs: Any
    ) -> Any:
        allowance = allowance_of(state, config)
        if allowance is None:
            return await call(self, state, config, *args, **kwargs)
        with allowance_scope(allowance):
            try:
                return await call(self, state, config, *args, **kwargs)
            except BudgetSpentError as spent:
                return spent_update(self.name, spent)

    return cast(F, run)


@dataclass(frozen=True)
class BudgetRefused:
    """The ending of a run whose budget refused (or cut) a call: `ended_by` names which."""

    name: str = "token_budget"
    status: Status = "over_budget"

    def __call__(self, state: Mapping[str, Any]) -> bool:
        return state.get("status") == "over_budget" and state.get("ended_by") == self.name


def budget_refused(state: Mapping[str, Any]) -> BudgetRefused | None:
    """The ending when a node of this step met the end of the budget (else None)."""
    if state.get("status") == "over_budget" and state.get("ended_by"):
        return BudgetRefused(str(state["ended_by"]))
    return None


class Ended(TypedDict, total=False):
    """Which budget ended a section (absent: none did)."""

    ended_by: str


def budget_ended(done: Mapping[str, Any]) -> Ended:
    """`{"ended_by": ...}` when a section's loop (`done`) ended over budget, else empty."""
    if done.get("status") != "over_budget":
        return {}
    return {"ended_by": str(done.get("ended_by") or "token_budget")}


def section_budget(state: Mapping[str, Any]) -> SectionState:
    """What a document's section takes of its budget: the same limits, and what the document
    had spent when the section began (`spent_before`): one budget for the whole document."""
    if not (state.get("token_budget") or state.get("max_cost")):
        return {}
    return SectionState(
        token_budget=state.get("token_budget", 0),
        max_cost=state.get("max_cost", 0.0),
        spent_before=usage_total(state.get("usage")),
    )
