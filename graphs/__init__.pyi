"""Public surface of `graphs`, loaded lazily by `__init__.py` (see lazy_loader)."""

from .endings import (
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
)
from .events import (
    CheckpointInfo,
    Event,
    Restart,
    RunResult,
    ThreadInfo,
    Token,
    Turn,
    TurnStarted,
)
from .manager import ConversationManager
from .registry import TopologyError, find, known, load
from .state import DraftState

__all__ = [
    "AllAgree",
    "AllOf",
    "Approved",
    "CheckpointInfo",
    "Completed",
    "ConversationManager",
    "CostBudget",
    "DraftState",
    "Ending",
    "Endings",
    "Event",
    "MaxRounds",
    "NoChange",
    "Reached",
    "Restart",
    "RunResult",
    "ThreadInfo",
    "Token",
    "TokenBudget",
    "TopologyError",
    "Turn",
    "TurnStarted",
    "find",
    "known",
    "load",
]
