"""The review app over HTTP (in process, through its ASGI interface): pages, redlines, issues,
review and fork doing what the CLI does, 404s, escaping, the token, CSRF, no API key."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import Settings
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.web import create_app
from tests.fakes import FakeOpenAIServer
from tests.fakes.reviewing import DRAFTS, ScriptedReview

CANARY = "sk-canary-web-5f3e9a1b7c"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    """The model: drafts that start with the topic, an editor that quotes them."""
    with FakeOpenAIServer() as server:
        server.responder = ScriptedReview(drafts=tuple(f"{{topic}}: {d}" for d in DRAFTS))
        yield server


@pytest.fixture
async def desk(
    make_settings: Callable[..., Settings], model: FakeOpenAIServer
) -> AsyncIterator[tuple[httpx.AsyncClient, ConversationManager, Settings]]:
    """Two finished threads, one waiting for review, and a client for the app on the same
    home (the app opens its own manager, as `copydesk serve` does)."""
    settings = make_settings(openai_base_url=model.base_url, openai_api_key=CANARY)
    client = OpenAIClient(base_url=model.base_url, api_key=SecretStr(CANARY))
    async with client, ConversationManager(settings, client=client) as manager:
        await manager.run("turn_taking", topic="Trams", thread_id="trams", max_rounds=2)
        await manager.run("turn_taking", topic=XSS, thread_id="xss", max_rounds=1)
        await manager.run("turn_taking", topic="Ferries", thread_id="ferries", review=True,
                          max_rounds=1)  # fmt: skip
    app = create_app(settings, token="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        async with ConversationManager(settings, client=OpenAIClient(base_url=model.base_url)) as m:
            yield http, m, settings
        await app.state.runtime.aclose()


async def _csrf(http: httpx.AsyncClient, path: str) -> str:
    page = await http.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def _wait(http: httpx.AsyncClient, thread_id: str) -> None:
    """Follow the thread's live run to its end (the SSE stream closes then)."""
    async with http.stream("GET", f"/desk/t/{thread_id}/events") as events:
        async for _ in events.aiter_lines():
            pass


async def test_list_puts_waiting_first_and_filters(desk: Any) -> None:
    http, _, _ = desk
    page = await http.get("/desk/")
    order = re.findall(r'data-thread="([^"]+)" data-status="([^"]+)"', page.text)
    assert order[0] == ("ferries", "waiting_for_review")
    assert {t for t, _ in order} == {"trams", "xss", "ferries"}
    only = await http.get("/desk/", params={"status": "out_of_rounds"})
    assert {
        t for t, _ in re.findall(r'data-thread="([^"]+)" data-status="([^"]+)"', only.text)
    } == {
        "trams",
        "xss",
    }


async def test_thread_page_shows_redline_issues_and_usage(desk: Any) -> None:
    http, _, _ = desk
    page = (await http.get("/desk/t/trams")).text
    compare = page[page.index('id="compare"') :]
    assert "<ins>and clean</ins>" in compare or "<ins> and clean</ins>" in compare
    assert "<del>love them</del>" in compare and "<ins>should build more</ins>" in compare
    # issues: state per issue, the open one highlighted in the current draft
    assert re.search(r'data-state="addressed">.*?Trams are quiet\.', page, re.S)
    assert re.search(r'data-state="still_there">.*?They carry many people\.', page, re.S)
    draft = page[page.index('id="draft"') : page.index("</div>", page.index('id="draft"'))]
    assert '<mark class="severity-major" title="issue 1">Cities should build more.' in draft
    assert "1 of 2 issues addressed (50%); 1 still open" in page
    assert "writer@v1" in page and "editor@v1" in page and 'id="usage"' in page
    assert "ended by max_rounds" in page
    # any earlier round: the second draft against the first
    again = (await http.get("/desk/t/trams", params={"to": 1, "against": 0})).text
    assert "<del>love them</del>" in again


async def test_unknown_thread_checkpoint_or_draft_is_a_404_page(desk: Any) -> None:
    http, manager, _ = desk
    for path in ("/desk/t/nope", "/desk/t/trams/c/1f000000-0000-0000-0000-000000000000",
                 "/desk/t/trams?to=9", "/desk/static/nope.js"):  # fmt: skip
        response = await http.get(path)
        assert response.status_code == 404, path
        assert "<h1>Not found</h1>" in response.text and "Traceback" not in response.text
    checkpoint = (await manager.history("trams"))[0].checkpoint_id
    assert (await http.get(f"/desk/t/trams/c/{checkpoint}")).status_code == 200


async def test_model_output_is_text_never_markup(desk: Any) -> None:
    http, _, _ = desk
    page = (await http.get("/desk/t/xss")).text
    assert "<script>window.__xss" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;" in page
    listing = (await http.get("/desk/")).text
    assert "<script>window" not in listing and "&lt;script&gt;" in listing


async def test_no_page_shows_the_api_key(desk: Any) -> None:
    http, manager, _ = desk
    checkpoint = (await manager.history("trams"))[0].checkpoint_id
    for path in ("/desk/", "/desk/new", "/desk/t/trams", "/desk/t/ferries",
                 f"/desk/t/trams/c/{checkpoint}", "/desk/t/nope"):  # fmt: skip
        assert CANARY not in (await http.get(path)).text, path


async def test_approve_from_the_page_is_resume_approve(desk: Any) -> None:
    http, manager, _ = desk
    csrf = await _csrf(http, "/desk/t/ferries")
    answer = await http.post("/desk/t/ferries/review", data={"csrf": csrf, "action": "approve"})
    assert answer.status_code == 303 and answer.headers["location"] == "/desk/t/ferries"
    await _wait(http, "ferries")
    result = await manager.result("ferries")
    assert (result.status, result.ended_by) == ("approved", "human")
    again = await http.post("/desk/t/ferries/review", data={"csrf": csrf, "action": "approve"})
    assert again.status_code == 409 and "not waiting for review" in again.text


async def test_feedback_from_the_page_gets_a_new_revision(desk: Any) -> None:
    http, manager, _ = desk
    csrf = await _csrf(http, "/desk/t/ferries")
    empty = await http.post("/desk/t/ferries/review", data={"csrf": csrf, "feedback": " "})
    assert empty.status_code == 400
    sent = await http.post(
        "/desk/t/ferries/review", data={"csrf": csrf, "action": "feedback", "feedback": "Shorter"}
    )
    assert sent.status_code == 303
    events = await http.get("/desk/t/ferries/events")
    assert "event: turn_started" in events.text and '"draft": "Ferries: Trams are quiet and' in (
        events.text
    )
    assert "event: end" in events.text
    result = await manager.result("ferries")
    assert result.rounds == 2 and result.status == "waiting_for_review"
    values = (await manager.graph("turn_taking").aget_state(
        {"configurable": {"thread_id": "ferries"}})).values  # fmt: skip
    assert {"round": 1, "agent": "human"}.items() <= values["verdicts"][-2].items()
    assert values["verdicts"][-2]["issues"][0]["comment"] == "Shorter"


async def test_start_a_run_from_the_form(desk: Any) -> None:
    http, manager, _ = desk
    csrf = await _csrf(http, "/desk/new")
    bad = await http.post("/desk/new", data={"csrf": csrf, "graph": "turn_taking", "topic": ""})
    assert bad.status_code == 400 and "the topic is empty" in bad.text
    unknown = await http.post("/desk/new", data={"csrf": csrf, "graph": "sonnet", "topic": "x"})
    assert unknown.status_code == 400 and "unknown graph" in unknown.text
    before = {t.thread_id for t in await manager.threads()}
    for field, value, said in [  # the CLI's rules (--max-rounds, --topic), one line each
        ("max_rounds", "5000", "less than or equal to 1000; use a number from 1 to 1000"),
        ("max_rounds", "0", "greater than or equal to 1"),
        ("max_rounds", "two", "must be a whole number"),
        ("topic", "word " * 2001, "at most 10000 characters"),
    ]:
        data = {"csrf": csrf, "graph": "turn_taking", "topic": "Canals", field: value}
        refused = await http.post("/desk/new", data=data)
        assert refused.status_code == 400 and said in refused.text, (field, value)
    assert {t.thread_id for t in await manager.threads()} == before  # nothing started
    started = await http.post(
        "/desk/new",
        data={"csrf": csrf, "graph": "turn_taking", "topic": "Canals", "max_rounds": "1"},
    )
    assert started.status_code == 303
    thread_id = started.headers["location"].rsplit("/", 1)[1]
    await _wait(http, thread_id)
    assert {t.thread_id for t in await manager.threads()} == before | {thread_id}
    result = await manager.result(thread_id)
    assert result.final_draft.startswith("Canals: ") and result.status == "out_of_rounds"


async def test_fork_from_a_checkpoint_with_another_topic_and_prompt(desk: Any) -> None:
    http, manager, _ = desk
    history = await manager.history("trams")
    first_draft = next(c for c in reversed(history) if c.round == 1)
    csrf = await _csrf(http, f"/desk/t/trams/c/{first_draft.checkpoint_id}")
    forked = await http.post(
        "/desk/t/trams/fork",
        data={"csrf": csrf, "checkpoint_id": first_draft.checkpoint_id, "topic": "Buses",
              "old_topic": "Trams", "prompt": "editor@v2", "new_thread_id": "buses"},
    )  # fmt: skip
    assert forked.status_code == 303 and forked.headers["location"] == "/desk/t/buses"
    await _wait(http, "buses")
    result = await manager.result("buses")
    assert result.prompts["editor"] == "editor@v2"
    values = (await manager.graph("turn_taking").aget_state(
        {"configurable": {"thread_id": "buses"}})).values  # fmt: skip
    assert values["topic"] == "Buses"
    assert (await manager.result("trams")).prompts["editor"] == "editor@v1"  # untouched
    missing = await http.post(
        "/desk/t/trams/fork", data={"csrf": csrf, "checkpoint_id": "nope", "topic": "x"}
    )
    assert missing.status_code == 404
    long_fork = await http.post(
        "/desk/t/trams/fork",
        data={"csrf": csrf, "checkpoint_id": first_draft.checkpoint_id, "topic": "x" * 10_001},
    )
    assert long_fork.status_code == 400 and "at most 10000 characters" in long_fork.text


async def test_posts_need_the_csrf_token_and_this_origin(desk: Any) -> None:
    http, manager, _ = desk
    csrf = await _csrf(http, "/desk/t/ferries")
    refused = [
        await http.post("/desk/t/ferries/review", data={"action": "approve"}),
        await http.post("/desk/t/ferries/review", data={"csrf": "x" * 43, "action": "approve"}),
        await http.post("/desk/t/ferries/review", data={"csrf": csrf, "action": "approve"},
                        headers={"origin": "http://evil.example"}),
        await http.post("/desk/t/ferries/review", data={"csrf": csrf, "action": "approve"},
                        headers={"sec-fetch-site": "cross-site"}),
    ]  # fmt: skip
    assert [r.status_code for r in refused] == [403] * 4
    assert (await manager.result("ferries")).status == "waiting_for_review"


async def test_a_token_guards_every_request(make_settings: Callable[..., Settings]) -> None:
    token = "t0ken-" + "x" * 20
    app = create_app(make_settings(), token=token)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.example") as http:
        assert (await http.get("/desk/")).status_code == 401
        assert (await http.get("/desk/", params={"token": "wrong"})).status_code == 401
        bearer = await http.get("/desk/", headers={"authorization": f"Bearer {token}"})
        assert bearer.status_code == 200 and token not in bearer.text
        entry = await http.get("/desk/", params={"token": token, "status": "approved"})
        assert entry.status_code == 303 and entry.headers["location"] == "/desk/?status=approved"
        assert "copydesk_token" in entry.headers["set-cookie"]
        assert "HttpOnly" in entry.headers["set-cookie"]
        assert (await http.get("/desk/new")).status_code == 200  # the cookie now
    await app.state.runtime.aclose()
    open_app = create_app(make_settings(), token="")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=open_app), base_url="http://desk.example"
    ) as http:
        assert (await http.get("/desk/")).status_code == 403  # no token: loopback hosts only
    await open_app.state.runtime.aclose()


def test_serve_refuses_another_host_without_a_token(tmp_path: Any) -> None:
    from tests._cli import cli_env

    proc = subprocess.run(
        [sys.executable, "-c", "from copydesk.graphs.cli import main; main()", "serve", "--host",
         "0.0.0.0"],
        env=cli_env(tmp_path / "home"), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "copydesk: error: --host 0.0.0.0 serves other machines; set COPYDESK_SERVE_TOKEN to a "
        "long random secret first (requests without it get 401), or bind 127.0.0.1"
    ]
    assert not (tmp_path / "home").exists()


def test_serve_on_a_taken_port_is_one_line(tmp_path: Any) -> None:
    """The port is bound before the address is announced: a taken one is one error line and
    exit 2 (uvicorn had announced the address, logged an ERROR line and exited 3)."""
    import socket

    from tests._cli import cli_env

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-c", "from copydesk.graphs.cli import main; main()", "serve",
             "--port", str(port)],
            env=cli_env(tmp_path / "home"), capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"copydesk: error: cannot serve on 127.0.0.1:{port}: address already in use; "
        "pick another --port"
    ]
    assert "serve: http" not in proc.stderr and "Traceback" not in proc.stderr
