"""The model-client subsystem: the one door to any OpenAI-compatible API.

`OpenAIClient` (chat.py) owns retries (retry.py), the shared rate limiter and its budgets
(limiter.py, windows.py, windows_redis.py), the circuit breaker and stream restarts
(resilience.py), prices and usage (prices.py, usage.py), and the deterministic offline model
(offline.py) served when no key is set; embeddings for the memory store go through the same
machinery (embeddings.py).

Names are exported lazily: importing this package loads nothing heavy (langchain-openai,
httpx pools) until a name is first used, so `copydesk --help` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.client.chat import STRUCTURED_TAG, OpenAIClient, Reply, Structured
    from agents.client.embeddings import ClientEmbedder, embedder_for
    from agents.client.limiter import LimiterRegistry, Priority, RateLimiter
    from agents.client.offline import OFFLINE_MODEL_NAME, OfflineChatModel
    from agents.client.prices import Price, PriceTable
    from agents.client.resilience import RESTART_EVENT, CircuitBreaker
    from agents.client.retry import RetryPolicy
    from agents.client.usage import CallRecord, UsageLedger

_EXPORTS: dict[str, str] = {
    "STRUCTURED_TAG": "chat",
    "OpenAIClient": "chat",
    "Reply": "chat",
    "Structured": "chat",
    "ClientEmbedder": "embeddings",
    "embedder_for": "embeddings",
    "LimiterRegistry": "limiter",
    "Priority": "limiter",
    "RateLimiter": "limiter",
    "OFFLINE_MODEL_NAME": "offline",
    "OfflineChatModel": "offline",
    "Price": "prices",
    "PriceTable": "prices",
    "RESTART_EVENT": "resilience",
    "CircuitBreaker": "resilience",
    "RetryPolicy": "retry",
    "CallRecord": "usage",
    "UsageLedger": "usage",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agents.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agents.client.{module}"), name)
    globals()[name] = value
    return value
