"""How the agents talk: topologies as graph files, the conversation manager and the CLI.

Importing this package compiles nothing and opens nothing; `load("turn_taking")` imports a
topology module and returns its compiled graph.
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

__all__ = [
    "CheckpointInfo",
    "ConversationManager",
    "DraftState",
    "Event",
    "Restart",
    "RunResult",
    "ThreadInfo",
    "Token",
    "TopologyError",
    "Turn",
    "TurnStarted",
    "find",
    "known",
    "load",
]
