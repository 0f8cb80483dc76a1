"""The public surface of each package changes only on purpose."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "agents": {
        "OFFLINE_MODEL_NAME", "STRUCTURED_TAG", "Agents", "CallRecord", "Chatbot", "ConfigError",
        "ConfigManager", "CopydeskError", "DraftState", "DraftUpdate", "Editor", "Issue", "Judge",
        "ModelAuthError", "ModelError", "ModelOutputError", "ModelRequestError",
        "ModelUnavailableError", "Moderator", "OfflineChatModel", "OpenAIClient", "Reply",
        "Revision", "RetryPolicy", "Ruling", "Settings", "Speaker", "SpeakerChoice", "Structured",
        "UsageLedger", "UsageTotals", "Verdict",
        "VerdictRecord", "Writer", "fingerprint",
        "RESTART_EVENT", "CircuitBreaker", "LimiterRegistry", "Price", "PriceTable", "Priority",
        "RateLimiter",
    },
    "graphs": {
        "CheckpointInfo", "ConversationManager", "DraftState", "Event", "RunResult",
        "ThreadInfo", "Token", "Turn", "TurnStarted", "Restart", "TopologyError", "load", "known",
        "find",
        "AllAgree", "AllOf", "Approved", "Completed", "CostBudget", "Ending", "Endings",
        "MaxRounds", "NoChange", "Reached",
        "TokenBudget",
    },
    "copydesk.graphs.queue": {
        "BrokerUnavailableError", "Job", "Submission", "run_worker", "submit", "submit_many",
        "submit_resume", "submit_runs", "wait_for",
    },
    "memory": {
        "DEFAULT_WINDOW_TOKENS", "CheckpointURLError", "TokenCounter", "WindowPolicy",
        "encoding_for_model", "open_checkpointer", "strict_serializer", "Window", "Embedder",
        "EmbedderMismatchError", "FaissStore", "LexicalEmbedder", "Memory",
        "PruneReport", "RecallPolicy", "open_store", "project_namespace",
        "prune_checkpoints", "thread_namespace",
    },
    "prompts": {"DEFAULT_PROMPTS_DIR", "PART_NAMES", "Experiment", "LintReport", "PromptError",
                "PromptRegistry", "PromptTemplate", "ReleaseLock", "Variant", "content_hash",
                "lint", "load_experiments", "prompt_overrides"},
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_exports_are_pinned(package: str) -> None:
    """`__all__` lists exactly the expected names, and each resolves."""
    module = importlib.import_module(package)
    assert set(module.__all__) == EXPECTED[package]
    for name in module.__all__:
        assert getattr(module, name) is not None
