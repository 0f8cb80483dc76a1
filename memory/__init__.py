"""What agents remember: the token-bounded window, recall from a FAISS store, durable
checkpoints and their pruning."""

from memory.buffer import DEFAULT_WINDOW_TOKENS, Window, WindowPolicy
from memory.checkpoint import CheckpointURLError, open_checkpointer, strict_serializer
from memory.embeddings import Embedder, EmbedderMismatchError, LexicalEmbedder
from memory.prune import PruneReport, prune_checkpoints
from memory.recall import Memory, RecallPolicy, project_namespace, thread_namespace
from memory.store import open_store
from memory.tokens import TokenCounter, encoding_for_model
from memory.vector import FaissStore

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
