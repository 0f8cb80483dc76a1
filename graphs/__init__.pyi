"""Public surface of `graphs`, loaded lazily by `__init__.py` (see lazy_loader)."""

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
from .termination import (
    AllAgree,
    Approved,
    Completed,
    CostBudget,
    Ending,
    MaxRounds,
    NoChange,
    TokenBudget,
)

__all__ = [
    "AllAgree",
    "Approved",
    "CheckpointInfo",
    "Completed",
    "ConversationManager",
    "CostBudget",
    "DraftState",
    "Ending",
    "Event",
    "MaxRounds",
    "NoChange",
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
