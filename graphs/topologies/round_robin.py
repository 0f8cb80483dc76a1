"""Round robin: N agents speak in a fixed order, round after round, until all reviewers agree
or the rounds run out.

START -> writer -> editor -> fact_checker -> (all agree / out of rounds) -> END
            ^                     |
            +---------------------+ otherwise
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from copydesk.agents.chatbot import Editor, Writer
from copydesk.agents.roles import Speaker
from copydesk.agents.state import DraftState
from copydesk.agents.team import Agents
from copydesk.graphs.review import add_human_review
from copydesk.graphs.termination import (
    HUMAN_REVIEW,
    AllAgree,
    Ending,
    Endings,
    MaxRounds,
    TokenBudget,
    then_decide,
    with_max_rounds,
)

__all__ = ["DESCRIPTION", "NAME", "ROLES", "build", "graph", "speaker"]

NAME = "round_robin"
DESCRIPTION = "N agents speak in a fixed order each round, until all reviewers agree."
ROLES: tuple[str, ...] = ("writer", "editor", "fact_checker")
"""The default speaking order; the first role is the one that revises."""
ENDINGS = Endings((AllAgree(), MaxRounds(), TokenBudget()))


def speaker(agents: Agents, role: str) -> Writer | Editor | Speaker:
    """The agent for `role`: writers write, editors and checkers judge, anyone else talks."""
    if role == "writer":
        return agents.writer
    if role == "editor":
        return agents.editor
    if role.endswith(("writer", "proofreader")):
        return agents.chatbot(Writer, role)
    if role.endswith(("editor", "checker")):
        return agents.chatbot(Editor, role)
    return agents.chatbot(Speaker, role)


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = ENDINGS,
    roles: Sequence[str] = ROLES,
) -> CompiledStateGraph[DraftState, None, DraftState, DraftState]:
    """Compile the round. Leave `checkpointer` None under LangGraph Server.

    Args:
        agents: The cast; roles other than writer and editor are made on its client.
        checkpointer: Where checkpoints go.
        store: Long-term memory store.
        max_rounds: Rounds when the input does not say.
        endings: What ends the run, checked after the last speaker of each round.
        roles: Prompt names in speaking order (each needs `prompts/<role>/`).
    """
    if len(roles) < 2:
        raise ValueError("a round robin needs at least two roles")
    agents = agents or Agents.default()
    endings = with_max_rounds(endings, max_rounds)
    first, last = roles[0], roles[-1]

    builder = StateGraph(DraftState)
    for role in roles[:-1]:
        builder.add_node(role, speaker(agents, role))
    builder.add_node(
        last,
        then_decide(speaker(agents, last), endings, first),
        destinations=(first, HUMAN_REVIEW, END),
    )
    add_human_review(builder, revise_to=first)

    builder.add_edge(START, first)
    for role, next_role in pairwise(roles):
        builder.add_edge(role, next_role)
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
