"""Debate: debaters argue over R rounds how the draft should change; a judge rules; the
writer applies the ruling.

START -> (no draft yet) writer -> advocate -> skeptic -> ... R rounds ... -> judge
  |                       ^                                                  |
  +-- (a draft) ----------+--> advocate              (approved / out of rounds) -> END
                          +------------------------- revise ----------------+
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from copydesk.agents.roles import Judge, Speaker
from copydesk.agents.state import DraftState
from copydesk.agents.team import Agents
from copydesk.graphs.review import add_human_review
from copydesk.graphs.termination import (
    DEFAULT_ENDINGS,
    HUMAN_REVIEW,
    Ending,
    then_decide,
    with_max_rounds,
)

__all__ = ["DEBATERS", "DESCRIPTION", "JUDGE", "NAME", "WRITER", "build", "graph"]

NAME = "debate"
DESCRIPTION = "Debaters argue over R rounds how the draft should change; a judge rules."
WRITER, JUDGE = "writer", "judge"
DEBATERS: tuple[str, ...] = ("advocate", "skeptic")
"""The default debaters; a third (any prompt name) may join."""


def debate_rounds_held(state: DraftState, first: str) -> int:
    """How often `first` has spoken since the current draft was written."""
    held = 0
    for message in reversed(state.get("messages") or []):
        if message.name == WRITER:
            break
        held += message.name == first
    return held


def build(
    *,
    agents: Agents | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    max_rounds: int | None = None,
    endings: Sequence[Ending] = DEFAULT_ENDINGS,
    debaters: Sequence[str] = DEBATERS,
    debate_rounds: int = 2,
) -> CompiledStateGraph[DraftState, None, DraftState, DraftState]:
    """Compile the debate. Leave `checkpointer` None under LangGraph Server.

    Args:
        agents: The cast; debaters and judge are made on its client.
        checkpointer: Where checkpoints go.
        store: Long-term memory store.
        max_rounds: Drafts when the input does not say.
        endings: What ends the run, checked after each ruling.
        debaters: Two or three prompt names, one persona each, in speaking order.
        debate_rounds: Rounds of argument (every debater speaks once a round) per ruling.
    """
    if not 2 <= len(debaters) <= 3 or debate_rounds < 1:
        raise ValueError("a debate needs two or three debaters and at least one round")
    agents = agents or Agents.default()
    endings = with_max_rounds(endings, max_rounds)
    first, last = debaters[0], debaters[-1]

    def to_debate_or_writer(state: DraftState) -> str:
        return first if state.get("draft") else WRITER

    def another_round_or_judge(state: DraftState) -> str:
        if state.get("status") == "over_budget":  # the budget refused a debater: rule now
            return JUDGE
        return first if debate_rounds_held(state, first) < debate_rounds else JUDGE

    builder = StateGraph(DraftState)
    builder.add_node(WRITER, agents.writer)
    for name in debaters:
        builder.add_node(name, agents.chatbot(Speaker, name, "debater"))
    judge = agents.chatbot(Judge, JUDGE, "rules on the debate")
    builder.add_node(
        JUDGE, then_decide(judge, endings, WRITER), destinations=(WRITER, HUMAN_REVIEW, END)
    )
    add_human_review(builder, revise_to=WRITER)

    builder.add_conditional_edges(START, to_debate_or_writer, [first, WRITER])
    builder.add_edge(WRITER, first)
    for speaker, listener in pairwise(debaters):
        builder.add_edge(speaker, listener)
    builder.add_conditional_edges(last, another_round_or_judge, [first, JUDGE])
    return builder.compile(checkpointer=checkpointer, store=store, name=NAME)


graph = build()
"""What `langgraph.json` points at: no checkpointer, LangGraph Server brings its own."""
