"""`DraftState`: the one state shared by every topology, so a thread can move between them.

It lives here rather than in `graphs/` because the agents read and write it, and dependencies
point from `graphs` to `agents`, never back. Everything in it is plain data (str, int, dict,
list, LangChain messages), which the strict checkpoint serializer revives without an allowlist.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

__all__ = [
    "DraftState",
    "DraftUpdate",
    "IssueRecord",
    "Revision",
    "Status",
    "UsageTotals",
    "VerdictRecord",
    "add_usage",
    "merge_dicts",
]

Status = Literal[
    "running",
    "approved",
    "out_of_rounds",
    "waiting_for_review",
    "failed",
    "over_budget",
    "unchanged",
    "completed",
]


class IssueRecord(TypedDict):
    """One editor issue, as stored."""

    severity: Literal["minor", "major"]
    quote: str
    comment: str


class VerdictRecord(TypedDict):
    """One verdict, as stored."""

    round: int
    agent: str
    decision: Literal["approve", "revise"]
    issues: list[IssueRecord]
    summary: str


class Revision(TypedDict):
    """One draft, as stored."""

    round: int
    author: str
    text: str


class UsageTotals(TypedDict):
    """Token usage of one agent (or of the whole thread under the key `total`)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int


def add_usage(
    left: dict[str, UsageTotals] | None, right: dict[str, UsageTotals] | None
) -> dict[str, UsageTotals]:
    """Reducer: sum usage per agent."""
    merged: dict[str, UsageTotals] = {k: UsageTotals(**v) for k, v in (left or {}).items()}
    for agent, usage in (right or {}).items():
        current = merged.get(agent, UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0))
        merged[agent] = UsageTotals(
            calls=current["calls"] + usage["calls"],
            prompt_tokens=current["prompt_tokens"] + usage["prompt_tokens"],
            completion_tokens=current["completion_tokens"] + usage["completion_tokens"],
        )
    return merged


def merge_dicts(left: dict[str, str] | None, right: dict[str, str] | None) -> dict[str, str]:
    """Reducer: later keys win."""
    return {**(left or {}), **(right or {})}


class DraftState(TypedDict, total=False):
    """The state of one writing thread."""

    topic: str
    """What the piece is about."""
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: the topic, every draft and every verdict, in order."""
    draft: str
    """The current draft."""
    revisions: Annotated[list[Revision], operator.add]
    """Every draft, oldest first."""
    verdicts: Annotated[list[VerdictRecord], operator.add]
    """Every verdict, oldest first; the last one is the latest."""
    round: int
    """How many drafts the writer has produced."""
    max_rounds: int
    """Drafts allowed before the run ends without approval."""
    status: Status
    """Why the run stopped, or `running`."""
    prompts: Annotated[dict[str, str], merge_dicts]
    """Agent name -> `prompt@version` it used last."""
    usage: Annotated[dict[str, UsageTotals], add_usage]
    """Token usage per agent."""
    ended_by: str
    """The name of the ending that stopped the run (`approved`, `max_rounds`, ...)."""
    review: bool
    """Ask a human (LangGraph `interrupt`) before the draft is accepted."""
    steps: int
    """Choices a moderator has made in this run (bounds the supervisor)."""
    token_budget: int
    """Tokens (prompt + completion, whole thread) after which the run ends; 0 for none."""


DraftUpdate = DraftState
"""A node's partial update: any subset of `DraftState`'s keys."""
