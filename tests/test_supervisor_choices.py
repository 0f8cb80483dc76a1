"""The supervisor's moderator when its choice cannot stand: the editor named before there is a
draft gives the turn to the writer, and a reply that is no choice at all falls back to turn
order instead of failing the run."""

from __future__ import annotations

from collections.abc import Callable

from copydesk.agents import Settings
from copydesk.graphs.manager import ConversationManager
from tests.fakes import FakeOpenAIServer, Fault
from tests.fakes.topologies import TopologyResponder, speakers


async def test_the_editor_named_before_any_draft_gives_the_turn_to_the_writer(
    make_settings: Callable[..., Settings],
) -> None:
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(always_choose="editor", approve_after=0)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            result = await manager.run("supervisor", topic="Gulls", max_rounds=1)
        order = speakers(server.chat_requests())
    assert order[:4] == ["moderator", "writer", "moderator", "editor"]
    assert result.status == "approved"


async def test_a_moderator_reply_that_is_no_choice_falls_back_to_turn_order(
    make_settings: Callable[..., Settings],
) -> None:
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=0)
        for _ in range(3):  # every attempt of the first choice
            server.faults.add(Fault.bad_content("I would pick someone clever."))
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            result = await manager.run("supervisor", topic="Gulls", max_rounds=1)
        order = speakers(server.chat_requests())
    assert order[:4] == ["moderator"] * 3 + ["writer"]  # the first in turn, after nobody
    assert result.status == "approved"
