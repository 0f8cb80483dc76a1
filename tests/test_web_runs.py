"""Runs started from the pages when things go wrong: a model that refuses mid-run (the page
says so and its Resume button continues the thread), a second answer while the first still
runs, the server stopping mid-run, a bug in the user's graph, text that is too long, and
the events of a thread this server never ran."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import Settings
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.web import create_app
from tests._cli import write_dividing_graph
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.reviewing import ScriptedReview

KEY = "sk-test-web-runs"


class Model:
    """The fake server's responder: the scripted review, with a gate that holds every
    answer while closed and a switch that refuses the call after a writer's draft."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.script = ScriptedReview(drafts=("{topic}: a draft.",))
        self.open = threading.Event()
        self.open.set()
        self.asked = threading.Event()
        """Set when a request arrives."""
        self.refuse_after_draft = False

    def __call__(self, body: dict[str, Any]) -> Reply:
        self.asked.set()
        self.open.wait(timeout=60)
        reply = self.script(body)
        if self.refuse_after_draft and "response_format" not in body and "tools" not in body:
            self.refuse_after_draft = False
            self.server.faults.add(Fault.status(400))  # the editor's call that follows
        return reply


@pytest.fixture
async def desk(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[httpx.AsyncClient, Any, ConversationManager, Model]]:
    """The app on a home with one thread waiting for review (`ferries`), a client for it, a
    manager on the same home and the model's controls."""
    with FakeOpenAIServer() as server:
        model = Model(server)
        server.responder = model
        settings = make_settings(openai_base_url=server.base_url, openai_api_key=KEY)
        client = OpenAIClient(base_url=server.base_url, api_key=SecretStr(KEY))
        async with client, ConversationManager(settings, client=client) as manager:
            await manager.run("turn_taking", topic="Ferries", thread_id="ferries", review=True,
                              max_rounds=1)  # fmt: skip
        app = create_app(settings, token="")
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http,
            ConversationManager(settings, client=OpenAIClient(base_url=server.base_url)) as m,
        ):
            try:
                yield http, app, m, model
            finally:
                model.open.set()
                await app.state.runtime.aclose()


async def _csrf(http: httpx.AsyncClient, path: str) -> str:
    page = await http.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def _held_run(http: httpx.AsyncClient, model: Model, topic: str) -> tuple[str, str]:
    """A run started from the form, waiting on its first model call; its id and the token."""
    csrf = await _csrf(http, "/desk/new")
    model.open.clear()
    model.asked.clear()
    started = await http.post(
        "/desk/new", data={"csrf": csrf, "graph": "turn_taking", "topic": topic}
    )
    assert await asyncio.to_thread(model.asked.wait, 60)  # the run waits for the model
    return started.headers["location"].rsplit("/", 1)[1], csrf


async def _events(http: httpx.AsyncClient, thread_id: str) -> str:
    """The thread's event stream from the start to its end."""
    return (await http.get(f"/desk/t/{thread_id}/events")).text


async def test_a_refused_run_says_so_and_resume_continues_it(desk: Any) -> None:
    http, _, manager, model = desk
    csrf = await _csrf(http, "/desk/new")
    model.refuse_after_draft = True

    started = await http.post(
        "/desk/new",
        data={"csrf": csrf, "graph": "turn_taking", "topic": "Canals", "max_rounds": "1"},
    )
    thread_id = started.headers["location"].rsplit("/", 1)[1]
    failed = await _events(http, thread_id)

    assert "event: failed" in failed and "400" in failed
    assert (await manager.result(thread_id)).status == "interrupted"

    resumed = await http.post(f"/desk/t/{thread_id}/resume", data={"csrf": csrf})
    ended = await _events(http, thread_id)
    again = await http.post(f"/desk/t/{thread_id}/resume", data={"csrf": csrf})

    assert resumed.status_code == 303 and resumed.headers["location"] == f"/desk/t/{thread_id}"
    assert "event: end" in ended and "event: failed" not in ended
    status = (await manager.result(thread_id)).status
    assert status == "out_of_rounds"
    assert again.status_code == 409 and f"is {status}, not interrupted" in again.text


async def test_a_second_answer_while_the_first_runs_is_refused(desk: Any) -> None:
    http, _, _, model = desk
    csrf = await _csrf(http, "/desk/t/ferries")
    model.open.clear()  # the revision the feedback asks for waits here

    first = await http.post(
        "/desk/t/ferries/review", data={"csrf": csrf, "action": "feedback", "feedback": "Shorter"}
    )
    second = await http.post("/desk/t/ferries/review", data={"csrf": csrf, "action": "approve"})
    model.open.set()
    ended = await _events(http, "ferries")

    assert first.status_code == 303
    assert second.status_code == 409 and "is running; wait for it to finish" in second.text
    assert "event: end" in ended


async def test_stopping_the_server_mid_run_leaves_a_resumable_thread(desk: Any) -> None:
    http, app, manager, model = desk
    thread_id, _ = await _held_run(http, model, "Weirs")

    await app.state.runtime.aclose()  # as when `copydesk serve` is stopped
    model.open.set()

    run = app.state.runtime.hub.latest(thread_id)
    assert run.done
    assert run.error == "the server stopped during the run; resume the thread to go on"
    assert "event: failed" in await _events(http, thread_id)
    assert (await manager.result(thread_id)).status == "interrupted"


async def test_a_bug_in_the_graph_is_one_line_on_the_page_and_logged(
    desk: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    http, _, _, _ = desk
    mine = write_dividing_graph(tmp_path / "divide.py")
    csrf = await _csrf(http, "/desk/new")

    with caplog.at_level(logging.ERROR, logger="copydesk.web"):
        started = await http.post(
            "/desk/new", data={"csrf": csrf, "graph": str(mine), "topic": "Zero"}
        )
        events = await _events(http, started.headers["location"].rsplit("/", 1)[1])

    assert "the run failed (ZeroDivisionError); see the server" in events
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


async def test_text_over_the_limit_is_refused(desk: Any) -> None:
    http, _, _, _ = desk
    csrf = await _csrf(http, "/desk/t/ferries")

    refused = await http.post(
        "/desk/t/ferries/review",
        data={"csrf": csrf, "action": "feedback", "feedback": "x" * 20_001},
    )

    assert refused.status_code == 400 and "feedback is longer than 20000 characters" in refused.text


async def test_events_of_a_thread_not_run_by_this_server_are_idle(desk: Any) -> None:
    http, _, _, _ = desk

    assert await _events(http, "ferries") == "event: idle\ndata: {}\n\n"


async def test_the_stop_button_stops_a_running_thread_after_its_step(desk: Any) -> None:
    http, _, manager, model = desk
    thread_id, csrf = await _held_run(http, model, "Locks")  # the writer is speaking
    assert 'id="stop"' in (await http.get(f"/desk/t/{thread_id}")).text

    refused = await http.post(f"/desk/t/{thread_id}/stop", data={"csrf": "forged"})
    stopped = await http.post(f"/desk/t/{thread_id}/stop", data={"csrf": csrf})
    model.open.set()
    ended = await _events(http, thread_id)

    assert refused.status_code == 403
    assert stopped.status_code == 303
    assert "event: end" in ended
    result = await manager.result(thread_id)
    assert (result.status, result.ended_by, result.rounds) == ("interrupted", "stopped", 1)
    page = (await http.get(f"/desk/t/{thread_id}")).text
    assert "ended by stopped" in page and 'id="resume"' in page and 'id="stop"' not in page
    waiting = await http.post("/desk/t/ferries/stop", data={"csrf": csrf})
    assert waiting.status_code == 409 and "waiting for review" in waiting.text
