"""The `copydesk_cassette` pytest fixture, used as a user's test suite would use it: a
committed cassette replays with no server, and `using_cassette` records, replays and
completes one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.pytest_cassette import (
    CassetteUse,
    copydesk_cassette,  # noqa: F401 (the fixture, as `pytest_plugins` would bring it)
    mode_of,
    using_cassette,
)
from copydesk.agents.errors import CassetteError
from tests.fakes import FakeOpenAIServer


async def ask(settings: Any, question: str) -> str:
    async with OpenAIClient.from_settings(settings) as client:
        return (await client.complete([HumanMessage(question)], agent="writer")).text


async def test_a_users_test_replays_its_cassette(
    copydesk_cassette: CassetteUse,  # noqa: F811 (pytest passes the fixture imported above)
    make_settings: Callable[..., Any],
) -> None:
    settings = copydesk_cassette.settings(make_settings())  # no key, no server

    assert copydesk_cassette.mode == "replay"
    assert copydesk_cassette.path.parent.name == "test_cassette_fixture"
    assert await ask(settings, "Name a tide pool animal.") == (
        "Fake reply 1 to: Name a tide pool animal."
    )


async def test_record_then_replay_then_complete(
    fake_server: FakeOpenAIServer, make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "cassettes" / "one.json"
    live = make_settings(openai_base_url=fake_server.base_url)
    with using_cassette(path, "record") as use:
        first = await ask(use.settings(live), "Why do tides turn?")
    fake_server.stop()

    with using_cassette(path, "replay") as use:
        again = await ask(use.settings(make_settings()), "Why do tides turn?")
    assert again == first
    with using_cassette(path, "missing") as use:
        assert await ask(use.settings(live), "Why do tides turn?") == first
    assert len(json.loads(path.read_text())["interactions"]) == 1


def test_the_mode_comes_from_copydesk_record(tmp_path: Path) -> None:
    assert [mode_of(v) for v in ("", "1", "missing", " Missing ")] == [
        "replay", "record", "missing", "missing",
    ]  # fmt: skip
    with pytest.raises(pytest.UsageError, match="COPYDESK_RECORD='yes'"):
        mode_of("yes")
    with (
        pytest.raises(CassetteError, match="does not exist"),
        using_cassette(tmp_path / "none.json", "replay"),
    ):
        pass
