"""What agents remember: the token-bounded window and durable checkpoints."""

from memory.buffer import DEFAULT_WINDOW_TOKENS, WindowPolicy
from memory.checkpoint import CheckpointURLError, open_checkpointer, strict_serializer
from memory.tokens import TokenCounter, encoding_for_model

__all__ = [
    "DEFAULT_WINDOW_TOKENS",
    "CheckpointURLError",
    "TokenCounter",
    "WindowPolicy",
    "encoding_for_model",
    "open_checkpointer",
    "strict_serializer",
]
