"""Roles on a server's own terms: the moderator's choice is an enum matched without case and
never the last speaker again, and every role sends its prompt's params."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from copydesk.agents import Settings
from copydesk.graphs.manager import ConversationManager
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder, speakers


async def test_moderator_choice_is_an_enum_matched_without_case(
    make_settings: Callable[..., Settings],
) -> None:
    """The schema lists the participants; "Writer" is taken as writer, not asked again."""
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(always_choose="Writer", approve_after=0)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            await manager.run("supervisor", topic="Gulls", max_rounds=1)
        requests = server.chat_requests()
    order = speakers(requests)
    assert order[:2] == ["moderator", "writer"]
    schema = (requests[0].body or {})["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["next_speaker"]["enum"] == ["writer", "editor", "fact_checker"]


async def test_a_moderator_naming_the_last_speaker_again_passes_to_the_next_in_turn(
    make_settings: Callable[..., Settings],
) -> None:
    """A small model's moderator names the writer every time: nobody speaks twice in a row,
    so the editor still judges and the run ends with a verdict."""
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(always_choose="writer", approve_after=0)
        settings = make_settings(checkpoint_url="memory:", openai_base_url=server.base_url)
        async with ConversationManager(settings) as manager:
            result = await manager.run("supervisor", topic="Gulls", max_rounds=1)
        order = [s for s in speakers(server.chat_requests()) if s != "moderator"]
    assert order[:2] == ["writer", "editor"]
    assert all(a != b for a, b in itertools.pairwise(order))
    assert result.verdict is not None


async def test_every_role_sends_its_prompts_params(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Speaker, Judge and Moderator send their prompt's [params] like the writer does."""
    import shutil

    from copydesk import prompts

    folder = tmp_path / "prompts"
    shutil.copytree(Path(prompts.__file__).parent, folder, ignore=shutil.ignore_patterns("*.py"))
    for role in ("advocate", "skeptic", "judge"):
        path = folder / role / "v1.toml"
        text = path.read_text(encoding="utf-8")
        assert "[params]" not in text
        path.write_text(text + "\n[params]\ntemperature = 0.35\nmax_tokens = 77\n", "utf-8")
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=0)
        settings = make_settings(
            checkpoint_url="memory:", openai_base_url=server.base_url, prompts_dir=folder
        )
        async with ConversationManager(settings) as manager:
            await manager.run("debate", topic="Kites", max_rounds=1)
        by_speaker = {
            s: r.body or {}
            for s, r in zip(speakers(server.chat_requests()), server.chat_requests(), strict=True)
        }
    for role in ("advocate", "skeptic", "judge"):
        assert by_speaker[role]["temperature"] == 0.35
        assert by_speaker[role]["max_tokens"] == 77
    assert by_speaker["writer"]["max_tokens"] == 1024  # the default cap
