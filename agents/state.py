"""`DraftState`: the one state shared by every topology, so a thread can move between them.

It lives here rather than in `graphs/` because the agents read and write it, and dependencies
point from `graphs` to `agents`, never back. Everything in it is plain data (str, int, dict,
list, LangChain messages), which the strict checkpoint serializer revives without an allowlist.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Annotated, Any, Literal, NotRequired, TypedDict, TypeVar

from langchain_core.messages import AnyMessage
from langgraph.channels import DeltaChannel
from langgraph.graph.message import add_messages

__all__ = [
    "DraftState",
    "DraftUpdate",
    "ExperimentRecord",
    "IssueRecord",
    "Revision",
    "Status",
    "UsageTotals",
    "VerdictRecord",
    "add_usage",
    "latest",
    "merge_dicts",
    "usage_total",
]

T = TypeVar("T")

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
    cost_usd: NotRequired[float]
    """USD, from the price table (absent in threads from before costs were kept)."""
    estimated_calls: NotRequired[int]
    """Calls whose tokens were counted with the tokenizer: the server reported no usage."""


class ExperimentRecord(TypedDict):
    """The A/B experiment a thread takes part in, and its variant."""

    name: str
    variant: str
    prompt: str
    """The `name@version` the variant uses."""


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
            cost_usd=current.get("cost_usd", 0.0) + usage.get("cost_usd", 0.0),
        )
        estimated = current.get("estimated_calls", 0) + usage.get("estimated_calls", 0)
        if estimated:
            merged[agent]["estimated_calls"] = estimated
    return merged


def usage_total(usage: dict[str, UsageTotals] | None) -> UsageTotals:
    """Every agent's usage summed into one."""
    whole = UsageTotals(calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
    for part in (usage or {}).values():
        whole = add_usage({"all": whole}, {"all": part})["all"]
    return whole


def latest(left: T | None, right: T) -> T:
    """Reducer: the value written last (several writes in one step are allowed)."""
    return right


def merge_dicts(left: dict[str, str] | None, right: dict[str, str] | None) -> dict[str, str]:
    """Reducer: later keys win."""
    return {**(left or {}), **(right or {})}


SNAPSHOT_EVERY = 1000
"""Updates between full snapshots of a growing channel (see `DraftState`)."""


def append_messages(state: list[AnyMessage], writes: Sequence[Any]) -> list[AnyMessage]:
    """Delta reducer: `add_messages` folded over a batch of writes (ids replace, new append)."""
    return reduce(add_messages, writes, state)  # type: ignore[arg-type]


def append_items(state: list[Any], writes: Sequence[list[Any]]) -> list[Any]:
    """Delta reducer: concatenate a batch of list writes."""
    return [*state, *(item for write in writes for item in write)]


class DraftState(TypedDict, total=False):
    """The state of one writing thread.

    `messages`, `revisions` and `verdicts` grow every round. With a plain reducer LangGraph
    stores the whole list again in every checkpoint, so N rounds cost O(N^2) bytes (measured:
    14.8 MB after 100 rounds of 500-character messages). They are `DeltaChannel`s (LangGraph
    1.2, beta): a checkpoint stores only what a step wrote and the list is rebuilt by
    replaying the thread's writes, with a full snapshot every `SNAPSHOT_EVERY` updates.
    """

    topic: str
    """What the piece is about."""
    messages: Annotated[
        list[AnyMessage], DeltaChannel(append_messages, snapshot_frequency=SNAPSHOT_EVERY)
    ]
    """The conversation: the topic, every draft and every verdict, in order."""
    draft: str
    """The current draft."""
    revisions: Annotated[
        list[Revision], DeltaChannel(append_items, snapshot_frequency=SNAPSHOT_EVERY)
    ]
    """Every draft, oldest first."""
    verdicts: Annotated[
        list[VerdictRecord], DeltaChannel(append_items, snapshot_frequency=SNAPSHOT_EVERY)
    ]
    """Every verdict, oldest first; the last one is the latest."""
    round: int
    """How many drafts the writer has produced."""
    max_rounds: int
    """Drafts allowed before the run ends without approval."""
    max_cost: float
    """USD the thread may spend; the run ends `over_budget` once it has (absent: no limit)."""
    status: Annotated[Status, latest]
    """Why the run stopped, or `running` (parallel editors that all met the end of the
    budget may each say `over_budget` in one step: the reducer takes any)."""
    prompts: Annotated[dict[str, str], merge_dicts]
    """Agent name -> `prompt@version` it used last."""
    usage: Annotated[dict[str, UsageTotals], add_usage]
    """Token usage per agent."""
    experiment: ExperimentRecord
    """The A/B experiment variant this thread was assigned, if it runs in one."""
    ended_by: Annotated[str, latest]
    """The name of the ending that stopped the run (`approved`, `max_rounds`, ...)."""
    review: bool
    """Ask a human (LangGraph `interrupt`) before the draft is accepted."""
    steps: int
    """Choices a moderator has made in this run (bounds the supervisor)."""
    token_budget: int
    """Tokens (prompt + completion, whole thread) after which the run ends; 0 for none."""
    until: str
    """An `--until` expression that replaces the topology's endings ("" or absent: none)."""


DraftUpdate = DraftState
"""A node's partial update: any subset of `DraftState`'s keys."""
