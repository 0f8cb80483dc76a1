"""Human review: a person approves the draft or sends feedback, through LangGraph `interrupt`.

The run pauses (its status reads `waiting_for_review`) until it is resumed with an answer,
from any process and at any later time, because the pause is a checkpoint:

    {"action": "approve"}                      the draft is accepted, the run ends `approved`
    {"action": "feedback", "text": "..."}      the writer revises to answer the feedback

(a bare string is taken as feedback, `"approve"` or `True` as approval). Every topology has
a `human_review` node that its endings route to when the state says `review: true`; the
review panel seats the human as one more parallel panelist instead, and the pipeline runs the
review as a subgraph, so the pause works inside parallel branches and subgraphs alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from copydesk.agents.chatbot import message_id
from copydesk.agents.state import DraftState, DraftUpdate, VerdictRecord
from copydesk.graphs.termination import HUMAN_REVIEW, RoutingNode

__all__ = ["HUMAN", "HUMAN_REVIEW", "HumanReviewer", "add_human_review", "answer_of"]

HUMAN = "human"
"""The speaker name of a human reviewer in messages and verdicts."""


def answer_of(value: Any) -> tuple[Literal["approve", "revise"], str]:
    """(decision, feedback) from a resume value; anything unclear counts as feedback."""
    if value is True or (isinstance(value, str) and value.strip().lower() == "approve"):
        return "approve", ""
    if isinstance(value, dict):
        if value.get("action") == "approve":
            return "approve", ""
        return "revise", str(value.get("text") or value.get("feedback") or "").strip()
    return "revise", str(value or "").strip()


@dataclass(frozen=True)
class HumanReviewer:
    """A node that pauses the run for a person's verdict and records it like an editor's."""

    name: str = HUMAN

    async def __call__(self, state: DraftState, config: RunnableConfig) -> DraftUpdate:
        """Ask (the first time this runs) or read the answer (when resumed)."""
        round_ = state.get("round", 0)
        about = dict(state).get("review_about") or {}  # a long document's section: which one
        answer = interrupt(
            {
                "kind": "review",
                "question": "Approve this draft, or send feedback for another revision?",
                "round": round_,
                "draft": state.get("draft", ""),
                "ended_by": state.get("ended_by", ""),
                **dict(about),  # type: ignore[call-overload]
            }
        )
        decision, feedback = answer_of(answer)
        issues = [{"severity": "major", "quote": "", "comment": feedback}] if feedback else []
        summary = "Approved by a human reviewer." if decision == "approve" else feedback
        record: VerdictRecord = {
            "round": round_,
            "agent": self.name,
            "decision": decision,
            "issues": issues,  # type: ignore[typeddict-item]
            "summary": summary or "Revise.",
        }
        text = f"Decision: {decision}. {record['summary']}"
        key = f"{self.name}.{len(state.get('messages') or [])}"
        return {
            "messages": [HumanMessage(text, name=self.name, id=message_id(config, round_, key))],
            "verdicts": [record],
        }


def _gate(revise_to: str) -> RoutingNode:
    """The human's verdict, then END when approved, else back to `revise_to`."""
    reviewer = HumanReviewer()

    async def human_review(state: DraftState, config: RunnableConfig) -> Command[str]:
        update = await reviewer(state, config)
        if update["verdicts"][-1]["decision"] == "approve":
            return Command(update={**update, "status": "approved", "ended_by": HUMAN}, goto=END)
        return Command(update={**update, "status": "running", "ended_by": ""}, goto=revise_to)

    return human_review


def _after_review(revise_to: str) -> Callable[[DraftState], str]:
    def route(state: DraftState) -> str:
        return END if state.get("status") == "approved" else revise_to

    return route


def add_human_review(
    builder: StateGraph[DraftState, None, DraftState, DraftState],
    revise_to: str,
    *,
    as_subgraph: bool = False,
    schema: type[Any] | None = None,
) -> None:
    """Add the `human_review` node: approve -> END, feedback -> `revise_to`.

    Args:
        builder: The topology being built.
        revise_to: The node that answers the human's feedback (the writer).
        as_subgraph: Run the review as a compiled subgraph node (it shares the parent's
            checkpointer, so its pause is checkpointed and resumed like any other).
        schema: The state the node reads, when the graph's extends `DraftState` (a long
            document's section: its `review_about` goes into what the person is shown).
    """
    if not as_subgraph:
        builder.add_node(
            HUMAN_REVIEW, _gate(revise_to), destinations=(revise_to, END), input_schema=schema
        )
        return
    inner = StateGraph(DraftState)
    inner.add_node(HUMAN, _gate(END))
    inner.add_edge(START, HUMAN)
    builder.add_node(HUMAN_REVIEW, inner.compile(name=HUMAN_REVIEW))
    builder.add_conditional_edges(HUMAN_REVIEW, _after_review(revise_to), [revise_to, END])
