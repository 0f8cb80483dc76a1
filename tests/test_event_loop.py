"""Nothing on a conversation's default path blocks the event loop.

blockbuster (the detector LangGraph Server runs under `langgraph dev`) turns any blocking file,
socket or sleep call made on the event loop into an error. The conversation runs on the
default settings (SQLite checkpoints, memory on, transcripts) so a blocking write anywhere on
the path a user takes fails this test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blockbuster import blockbuster_ctx

from copydesk.agents.config import Settings
from copydesk.graphs.manager import ConversationManager


async def test_a_default_conversation_makes_no_blocking_call_on_the_loop(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    assert settings.memory  # the default path: recall and store on
    async with ConversationManager(settings) as manager:
        await manager.run("turn_taking", topic="warm-up", thread_id="w")  # loads, caches
        with blockbuster_ctx(excluded_modules=_THIRD_PARTY_AT_IMPORT) as detector:
            result = await manager.run("turn_taking", topic="harbour seals", thread_id="t")
            resumed = await manager.run("turn_taking", thread_id="t", max_rounds=1)
        lines = manager.transcript("t").lines()
    assert detector is not None
    assert result.status == "approved" and resumed.thread_id == "t"
    assert {line["agent"] for line in lines} >= {"writer", "editor"}


_THIRD_PARTY_AT_IMPORT: list[Any] = []
"""Modules allowed to block: none. (Kept as a named list so an exception must be argued.)"""
