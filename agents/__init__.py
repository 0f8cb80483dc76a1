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
from agents.offline import OFFLINE_MODEL_NAME, OfflineChatModel
from agents.retry import RetryPolicy
from agents.roles import Judge, Moderator, Ruling, Speaker, SpeakerChoice
from agents.state import DraftState, DraftUpdate, Revision, UsageTotals, VerdictRecord
from agents.team import Agents
from agents.usage import CallRecord, UsageLedger
from agents.verdict import Issue, Verdict

__all__ = [
    "OFFLINE_MODEL_NAME",
    "STRUCTURED_TAG",
    "Agents",
    "CallRecord",
    "Chatbot",
    "ConfigError",
    "ConfigManager",
    "CopydeskError",
    "DraftState",
    "DraftUpdate",
    "Editor",
    "Issue",
    "Judge",
    "ModelAuthError",
    "ModelError",
    "ModelOutputError",
    "ModelRequestError",
    "ModelUnavailableError",
    "Moderator",
    "OfflineChatModel",
    "OpenAIClient",
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
