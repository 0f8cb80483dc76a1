"""Public surface of `agents`, loaded lazily by `__init__.py` (see lazy_loader)."""

from .chatbot import Chatbot, Editor, Writer
from .client import (
    OFFLINE_MODEL_NAME,
    RESTART_EVENT,
    STRUCTURED_TAG,
    CallRecord,
    CircuitBreaker,
    LimiterRegistry,
    OfflineChatModel,
    OpenAIClient,
    Price,
    PriceTable,
    Priority,
    RateLimiter,
    Reply,
    RetryPolicy,
    Structured,
    UsageLedger,
)
from .config import ConfigManager
from .errors import (
    ConfigError,
    CopydeskError,
    ModelAuthError,
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelUnavailableError,
    fingerprint,
)
from .roles import Judge, Moderator, Ruling, Speaker, SpeakerChoice
from .settings import Settings
from .state import DraftState, DraftUpdate, Revision, UsageTotals, VerdictRecord
from .team import Agents
from .verdict import Issue, Verdict

__all__ = [
    "OFFLINE_MODEL_NAME",
    "RESTART_EVENT",
    "STRUCTURED_TAG",
    "Agents",
    "CallRecord",
    "Chatbot",
    "CircuitBreaker",
    "ConfigError",
    "ConfigManager",
    "CopydeskError",
    "DraftState",
    "DraftUpdate",
    "Editor",
    "Issue",
    "Judge",
    "LimiterRegistry",
    "ModelAuthError",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelUnavailableError",
    "Moderator",
    "OfflineChatModel",
    "OpenAIClient",
    "Price",
    "PriceTable",
    "Priority",
    "RateLimiter",
    "Reply",
    "RetryPolicy",
    "Revision",
    "Ruling",
    "Settings",
    "Speaker",
    "SpeakerChoice",
    "Structured",
    "UsageLedger",
    "UsageTotals",
    "Verdict",
    "VerdictRecord",
    "Writer",
    "fingerprint",
]
