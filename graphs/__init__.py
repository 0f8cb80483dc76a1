"""How the agents talk: topologies as graph files, the conversation manager and the CLI.

Importing this package compiles nothing and opens nothing; `load("debate")` imports a
topology module and returns its compiled graph. Endings (`Approved() | MaxRounds(5)`) are
the composable conditions every topology's `build(endings=...)` takes.
"""

from graphs.events import (
    CheckpointInfo,
    Event,
    Restart,
    RunResult,
    ThreadInfo,
    Token,
    Turn,
    TurnStarted,
)
from graphs.manager import ConversationManager
from graphs.registry import TopologyError, find, known, load
from graphs.state import DraftState
from graphs.termination import (
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
