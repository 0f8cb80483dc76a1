"""Who speaks, and through what: chatbots, the model client and configuration."""

from agents.chatbot import Chatbot, Editor, Writer
from agents.client import STRUCTURED_TAG, OpenAIClient, Reply, Structured
from agents.config import ConfigManager, Settings
from agents.errors import (
    ConfigError,
    CopydeskError,
    ModelAuthError,
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelUnavailableError,
    fingerprint,
)
from agents.limiter import LimiterRegistry, Priority, RateLimiter
from agents.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from agents.prices import Price, PriceTable
from agents.resilience import RESTART_EVENT, CircuitBreaker
from agents.retry import RetryPolicy
from agents.roles import Judge, Moderator, Ruling, Speaker, SpeakerChoice
from agents.state import DraftState, DraftUpdate, Revision, UsageTotals, VerdictRecord
from agents.team import Agents
from agents.usage import CallRecord, UsageLedger
from agents.verdict import Issue, Verdict

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
