"""What a conversation stream yields: who speaks, their tokens, each finished turn, the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CheckpointInfo",
    "Event",
    "Restart",
    "RunResult",
    "ThreadInfo",
    "Token",
    "Turn",
    "TurnStarted",
]


@dataclass(frozen=True)
class TurnStarted:
    """An agent has started speaking."""

    agent: str


@dataclass(frozen=True)
class Token:
    """A piece of an agent's reply, as it arrives."""

    agent: str
    text: str
    structured: bool = False
    """True for JSON tokens of a typed reply (a verdict); UIs usually hide these."""


@dataclass(frozen=True)
class Restart:
    """An agent's reply broke off mid-stream and starts over: drop its tokens so far."""

    agent: str
    reason: str


@dataclass(frozen=True)
class Turn:
    """An agent has finished: what it changed in the state."""

    agent: str
    update: dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    """How a run ended."""

    thread_id: str
    graph: str
    status: str
    rounds: int
    final_draft: str
    verdict: dict[str, Any] | None
    usage: dict[str, dict[str, Any]]
    model: str
    next: tuple[str, ...] = ()
    prompts: dict[str, str] = field(default_factory=dict)
    experiment: dict[str, str] = field(default_factory=dict)
    ended_by: str = ""
    """The ending that stopped the run (`approved`, `max_rounds`, `all_agree`, `human`...)."""
    review: Any = None
    """What the human is asked, while the status is `waiting_for_review`."""
    issues_addressed: dict[str, Any] = field(default_factory=dict)
    """The editor issues by state and the share addressed
    (`copydesk.graphs.reports.issue_tracking`)."""
    style_sheet: list[dict[str, Any]] = field(default_factory=list)
    """A long document's style sheet: each rule with the section that set it."""
    fact_ledger: list[dict[str, Any]] = field(default_factory=list)
    """A long document's fact ledger: each claim with its value, section and source."""

    def as_json(self) -> dict[str, Any]:
        """The `--json` output of `copydesk run` (a long document's style sheet and fact
        ledger only when it has them)."""
        extra = {"review": self.review} if self.review is not None else {}
        if self.style_sheet or self.fact_ledger:
            extra |= {"style_sheet": self.style_sheet, "fact_ledger": self.fact_ledger}
        return {
            "thread_id": self.thread_id,
            "status": self.status,
            "rounds": self.rounds,
            "final_draft": self.final_draft,
            "verdict": self.verdict,
            "usage": self.usage,
            "graph": self.graph,
            "model": self.model,
            "prompts": self.prompts,
            "experiment": self.experiment or None,
            "ended_by": self.ended_by,
            "issues_addressed": self.issues_addressed,
            **extra,
        }


Event = TurnStarted | Token | Restart | Turn | RunResult
"""What `ConversationManager.stream` yields: turns starting, tokens, restarts, turns, the result."""


@dataclass(frozen=True)
class ThreadInfo:
    """One thread, as listed by `copydesk threads`."""

    thread_id: str
    graph: str
    topic: str
    status: str
    rounds: int
    updated_at: str
    ended_by: str = ""
    """What ended its last run (`approved`, ..., or `timeout` / `stopped` for a run stopped
    before an ending); "" while it runs or after a crash."""

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return self.__dict__.copy()


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint, as listed by `copydesk history`."""

    checkpoint_id: str
    step: int
    round: int
    node: str
    next: tuple[str, ...]
    created_at: str
    prompts: dict[str, str]
    experiment: dict[str, str] = field(default_factory=dict)
    """`{name, variant, prompt}` when the thread runs in an A/B experiment."""

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "next": list(self.next)}
