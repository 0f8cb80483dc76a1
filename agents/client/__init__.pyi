"""Public surface of `copydesk.agents.client`, loaded lazily by `__init__.py` (see lazy_loader)."""

from .chat import OpenAIClient
from .embeddings import ClientEmbedder, embedder_for
from .limiter import LimiterRegistry
from .offline import OFFLINE_MODEL_NAME, OfflineChatModel
from .pacing import RateLimiter
from .prices import Price, PriceTable
from .replies import STRUCTURED_TAG, Reply, Structured
from .resilience import RESTART_EVENT, CircuitBreaker
from .retry import RetryPolicy
from .usage import CallRecord, UsageLedger
from .waiting import Priority

__all__ = [
    "OFFLINE_MODEL_NAME",
    "RESTART_EVENT",
    "STRUCTURED_TAG",
    "CallRecord",
    "CircuitBreaker",
    "ClientEmbedder",
    "LimiterRegistry",
    "OfflineChatModel",
    "OpenAIClient",
    "Price",
    "PriceTable",
    "Priority",
    "RateLimiter",
    "Reply",
    "RetryPolicy",
    "Structured",
    "UsageLedger",
    "embedder_for",
]
