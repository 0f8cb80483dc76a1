"""Public surface of `memory`, loaded lazily by `__init__.py` (see lazy_loader)."""

from .buffer import DEFAULT_WINDOW_TOKENS, Window, WindowPolicy
from .checkpoint import CheckpointURLError, open_checkpointer, strict_serializer
from .embeddings import Embedder, EmbedderMismatchError, LexicalEmbedder
from .prune import PruneReport, prune_checkpoints
from .recall import Memory, RecallPolicy, project_namespace, thread_namespace
from .store import open_store
from .tokens import TokenCounter, encoding_for_model
from .vector import FaissStore

__all__ = [
    "DEFAULT_WINDOW_TOKENS",
    "CheckpointURLError",
    "Embedder",
    "EmbedderMismatchError",
    "FaissStore",
    "LexicalEmbedder",
    "Memory",
    "PruneReport",
    "RecallPolicy",
    "TokenCounter",
    "Window",
    "WindowPolicy",
    "encoding_for_model",
    "open_checkpointer",
    "open_store",
    "project_namespace",
    "prune_checkpoints",
    "strict_serializer",
    "thread_namespace",
]
