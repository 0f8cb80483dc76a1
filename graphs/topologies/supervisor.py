"""Supervisor: a moderator picks the next speaker at each step.

                 +--> writer -------+
START -> moderator --> editor ------+--> moderator ...   a reviewer's verdict may end the run:
                 +--> fact_checker -+                    (all agree / out of rounds) -> END

The choice is typed (`SpeakerChoice`) and checked against the participants: an unknown name
is asked again once, then the next participant in turn speaks. The moderator may choose at
most `max_rounds * 2 * len(participants)` times per run, so the run always ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Command

from copydesk.agents.budgets import BudgetRefused, allowance_of, spent_update
from copydesk.agents.client.budget import allowance_scope
from copydesk.agents.errors import BudgetSpentError
from copydesk.agents.roles import Moderator
from copydesk.agents.state import DraftState, Status
from copydesk.agents.team import Agents
from copydesk.graphs.review import add_human_review
from copydesk.graphs.termination import (
    HUMAN_REVIEW,
    AllAgree,
    Ending,
    Endings,
    MaxRounds,
    TokenBudget,
    finish,
    then_decide,
    with_max_rounds,
)
from copydesk.graphs.topologies.round_robin import speaker

__all__ = ["DESCRIPTION", "MODERATOR", "NAME", "PARTICIPANTS", "StepLimit", "build", "graph"]

NAME = "supervisor"
DESCRIPTION = "A moderator picks who speaks next at each step (typed, validated, bounded)."
MODERATOR = "moderator"
PARTICIPANTS: tuple[str, ...] = ("writer", "editor", "fact_checker")
ENDINGS = Endings((AllAgree(), MaxRounds(), TokenBudget()))


@dataclasses.dataclass(frozen=True)
class StepLimit:
    """The moderator has chosen `per_round` times per allowed round: stop."""

    per_round: int
    default_rounds: int = 3
    name: str = "max_steps"
    status: Status = "out_of_rounds"

    def __call__(self, state: DraftState) -> bool:
        rounds = state.get("max_rounds", self.default_rounds)
        return state.get("steps", 0) >= rounds * self.per_round


@dataclasses.dataclass(frozen=True)
class Moderate:
    """The moderator node: stop at the step limit, else choose and go to the chosen one."""

    moderator: Moderator
    limit: StepLimit

    async def __call__(self, state: DraftState, config: RunnableConfig) -> Command[str]:
        """Choose the next speaker."""
        if self.limit(state):
            update, goto = finish(state, self.limit)
            return Command(update=update, goto=goto)
        try:
            with allowance_scope(allowance_of(state, config)):
                choice, update = await self.moderator.choose(state, config)
        except BudgetSpentError as spent:  # no budget left to choose with: the run ends
            update = spent_update(self.moderator.name, spent)
            done, goto = finish(state, BudgetRefused(spent.ending))
            return Command(update={**update, **done}, goto=goto)
        return Command(update={**update, "steps": state.get("steps", 0) + 1}, goto=choice)


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = ENDINGS,
    participants: Sequence[str] = PARTICIPANTS,
) -> CompiledStateGraph[DraftState, None, DraftState, DraftState]:
    """Compile the moderated conversation. Leave `checkpointer` None under LangGraph Server.

    Args:
        agents: The cast; participants other than writer and editor are made on its client.
        checkpointer: Where checkpoints go.
        store: Long-term memory store.
        max_rounds: Drafts when the input does not say.
        endings: What ends the run, checked after each reviewer's verdict.
        participants: Prompt names the moderator chooses from; the first one writes.
    """
    agents = agents or Agents.default()
    endings = with_max_rounds(endings, max_rounds)
    names = tuple(participants)
    moderator = dataclasses.replace(agents.chatbot(Moderator, MODERATOR), participants=names)
    limit = StepLimit(per_round=2 * len(names), default_rounds=max_rounds or 3)

    builder = StateGraph(DraftState)
    builder.add_node(
        MODERATOR, Moderate(moderator, limit), destinations=(*names, HUMAN_REVIEW, END)
    )
    for name in names:
        agent = speaker(agents, name)
        if name == names[0]:
            builder.add_node(name, agent)
            builder.add_edge(name, MODERATOR)
        else:
            builder.add_node(
                name,
                then_decide(agent, endings, MODERATOR),
                destinations=(MODERATOR, HUMAN_REVIEW, END),
            )
    add_human_review(builder, revise_to=names[0])

    builder.add_edge(START, MODERATOR)
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
