"""The review pages at their edges: a thread whose first call failed (no draft yet: its page
shows, its Word export is refused), a draft number that is not a number, a browser on the
IPv6 loopback, and the server's lifespan passing the guard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from typer.testing import CliRunner

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import Settings
from copydesk.agents.errors import ModelError
from copydesk.graphs.cli.app import build
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.web import create_app
from tests.fakes import FakeOpenAIServer, Fault


@pytest.fixture
async def home_with_threads(make_settings: Callable[..., Settings], home: Path) -> Path:
    """`nodraft`: the writer's first call was refused; `done`: a finished offline thread."""
    with FakeOpenAIServer() as server:
        server.faults.add(Fault.status(401))
        settings = make_settings(
            openai_base_url=server.base_url, openai_api_key="sk-test", memory=False
        )
        client = OpenAIClient(base_url=server.base_url, api_key=SecretStr("sk-test"))
        async with client, ConversationManager(settings, client=client) as manager:
            with pytest.raises(ModelError):
                await manager.run("turn_taking", topic="Eelgrass", thread_id="nodraft")
    async with ConversationManager(make_settings()) as manager:
        await manager.run("turn_taking", topic="Oyster reefs", thread_id="done")
    return home


@pytest.fixture
async def http(
    home_with_threads: Path, make_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(), token="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client
    await app.state.runtime.aclose()


async def test_a_thread_without_a_draft_has_a_page(http: httpx.AsyncClient) -> None:
    page = await http.get("/desk/t/nodraft")

    assert page.status_code == 200 and "Eelgrass" in page.text


async def test_a_draft_number_that_is_not_a_number(http: httpx.AsyncClient) -> None:
    refused = await http.get("/desk/t/done", params={"to": "two"})

    assert refused.status_code == 400 and "not a draft number: &#39;two&#39;" in refused.text


async def test_the_ipv6_loopback_is_this_machine(http: httpx.AsyncClient) -> None:
    listed = await http.get("/desk/", headers={"host": "[::1]:8321"})

    assert listed.status_code == 200 and "done" in listed.text


def test_the_lifespan_passes_the_guard(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(), token="")

    with TestClient(app, base_url="http://127.0.0.1") as client:  # startup and shutdown
        assert client.get("/desk/new").status_code == 200


def test_word_export_of_a_thread_without_a_draft_is_refused(
    home_with_threads: Path, tmp_path: Path
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = tmp_path / "nodraft.docx"

    done = CliRunner().invoke(
        build(),
        ["export", "nodraft", "-o", str(out)],
        env={"COPYDESK_HOME": str(home_with_threads)},
    )
    root.handlers, root.level = handlers, level

    assert done.exit_code == 2, done.output
    assert done.stderr.strip() == "copydesk: error: thread 'nodraft' has no draft yet"
    assert not out.exists()
