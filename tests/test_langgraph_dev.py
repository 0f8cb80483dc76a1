"""`langgraph dev` serves every topology in langgraph.json to the LangGraph SDK, offline.

One server for the module on the offline model (no API key), and one that calls the fake
OpenAI server over HTTP as it would a real API (where the agents' own blocking work, such as
loading the tokenizer's tables, would fail inside async nodes). Tracing and analytics are off;
the port is chosen by us but read back from what the server prints (it quietly takes another
when the asked one is busy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder, speakers

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def dev_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline server's working directory (its COPYDESK_HOME is `copydesk` in it)."""
    return tmp_path_factory.mktemp("langgraph-dev")


@pytest.fixture(scope="module")
def server_url(dev_work: Path) -> Iterator[str]:
    """`langgraph dev` on the offline model."""
    with _langgraph_dev(dev_work, {}) as url:
        yield url


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI server playing every role, shared by the module."""
    with FakeOpenAIServer() as server:
        server.responder = TopologyResponder(approve_after=1)
        yield server


@pytest.fixture(scope="module")
def online_url(
    tmp_path_factory: pytest.TempPathFactory, model_server: FakeOpenAIServer
) -> Iterator[str]:
    """`langgraph dev` calling the fake OpenAI server over HTTP, as with a real key."""
    extra = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    with _langgraph_dev(tmp_path_factory.mktemp("langgraph-dev-online"), extra) as url:
        yield url


@contextlib.contextmanager
def _langgraph_dev(work: Path, extra: dict[str, str]) -> Iterator[str]:
    """Start `langgraph dev` in `work` and yield its URL."""
    # The server resolves graph paths from its working directory and keeps its state there:
    # run it in a scratch directory on a copy of langgraph.json with absolute paths.
    spec = json.loads((ROOT / "langgraph.json").read_text())
    spec["dependencies"] = [str(ROOT)]
    spec["graphs"] = {k: str(ROOT / v.removeprefix("./")) for k, v in spec["graphs"].items()}
    spec["http"]["app"] = str(ROOT / spec["http"]["app"].removeprefix("./"))
    (work / "langgraph.json").write_text(json.dumps(spec))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "COPYDESK_HOME": str(work / "copydesk"),
        "PYTHONPATH": str(ROOT),
        # Under `pytest --cov`, coverage's own settings, so the server is measured too.
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
        **extra,
    }
    command = [
        str(Path(sys.executable).with_name("langgraph")),
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(_free_port()),
        "--config",
        str(work / "langgraph.json"),
    ]
    process = subprocess.Popen(
        command,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    found: queue.Queue[str] = queue.Queue()

    def drain(stream: Any) -> None:  # keep reading, or the server blocks on a full pipe
        for line in stream:
            seen.append(line)
            match = re.search(r"API: \S*?(http://127\.0\.0\.1:\d+)", line)
            if match:
                found.put(match.group(1))

    drainer = threading.Thread(target=drain, args=(process.stdout,), daemon=True)
    drainer.start()
    try:
        url: str | None = found.get(timeout=60)
    except queue.Empty:
        url = None
    try:
        assert url is not None, "langgraph dev did not start:\n" + "".join(seen[-30:])
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        drainer.join(timeout=5)
        process.stdout.close()


async def _wait_ready(client: Any) -> list[dict[str, Any]]:
    """The assistants, once the server answers (it prints its URL just before it is up)."""
    for _ in range(100):
        try:
            return list(await client.assistants.search(limit=50))
        except Exception:  # connection refused while the server finishes starting
            await asyncio.sleep(0.1)
    raise AssertionError("langgraph dev never answered")


async def test_serves_runs_and_forks_every_topology(server_url: str) -> None:
    """Every topology is an assistant; each runs offline to an ending; history and fork work."""
    async with get_client(url=server_url) as client:
        await _serves_runs_and_forks(client)


async def _serves_runs_and_forks(client: Any) -> None:
    assistants = await _wait_ready(client)
    assert {a["graph_id"] for a in assistants} >= set(TOPOLOGIES)

    for graph_id in TOPOLOGIES:
        thread = await client.threads.create()
        values = await client.runs.wait(
            thread["thread_id"], graph_id, input={"topic": f"Canal boats ({graph_id})"}
        )
        assert isinstance(values, dict)
        assert values["status"] in ("approved", "completed"), (graph_id, values.get("status"))
        assert values["ended_by"], graph_id
        assert "Canal boats" in values["draft"]
        state = await client.threads.get_state(thread["thread_id"])
        assert state["values"]["draft"] == values["draft"] and state["next"] == []

    # Time travel on the last thread: run again from the checkpoint before its last step.
    history = await client.threads.get_history(thread["thread_id"], limit=100)
    before_last = history[1]
    assert before_last["next"]
    again = await client.runs.wait(
        thread["thread_id"], graph_id, input=None, checkpoint_id=before_last["checkpoint_id"]
    )
    assert isinstance(again, dict) and again["draft"]
    forked = await client.threads.get_history(thread["thread_id"], limit=200)
    assert len(forked) > len(history)


async def test_human_review_pauses_and_resumes_over_the_api(server_url: str) -> None:
    """A run with `review: true` stops at the interrupt; a resume command approves it."""
    async with get_client(url=server_url) as client:
        await _pause_and_resume(client)


async def _pause_and_resume(client: Any) -> None:
    await _wait_ready(client)
    thread = await client.threads.create()
    paused = await client.runs.wait(
        thread["thread_id"], "turn_taking", input={"topic": "Ferries", "review": True}
    )
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["human_review"]
    assert isinstance(paused, dict) and paused["__interrupt__"][0]["value"]["kind"] == "review"
    done = await client.runs.wait(
        thread["thread_id"], "turn_taking", command={"resume": {"action": "approve"}}
    )
    assert isinstance(done, dict)
    assert done["status"] == "approved" and done["ended_by"] == "human"


async def test_topologies_call_a_real_http_model_under_the_server(
    online_url: str, model_server: FakeOpenAIServer
) -> None:
    """Under `langgraph dev` with a model endpoint, turns go over HTTP in the diagram's order."""
    async with get_client(url=online_url) as client:
        await _wait_ready(client)
        for graph_id, expected in (
            ("turn_taking", ["writer", "editor"] * 2),
            ("pipeline", ["outliner", "writer", "editor", "proofreader"]),
        ):
            before = len(model_server.chat_requests())
            thread = await client.threads.create()
            values = await client.runs.wait(
                thread["thread_id"], graph_id, input={"topic": f"Locks ({graph_id})"}
            )
            assert isinstance(values, dict)
            assert values["status"] in ("approved", "completed"), values.get("__error__")
            assert speakers(model_server.chat_requests()[before:]) == expected


async def test_the_review_pages_are_served_beside_the_api(server_url: str, dev_work: Path) -> None:
    """`http.app` in langgraph.json: the same pages `copydesk serve` shows, under /desk/, for
    the threads in COPYDESK_HOME, with the LangGraph API still answering beside them."""
    import httpx

    from copydesk.agents.config import ConfigManager
    from copydesk.graphs.manager import ConversationManager

    settings = ConfigManager(flags={"home": dev_work / "copydesk", "offline": True}).settings
    async with ConversationManager(settings) as manager:  # a thread made by the CLI, say
        await manager.run("turn_taking", topic="Lighthouses", thread_id="lights")
    async with get_client(url=server_url) as client:
        await _wait_ready(client)
    async with httpx.AsyncClient(base_url=server_url, timeout=30) as http:
        listing = await http.get("/desk/")
        assert listing.status_code == 200 and 'data-thread="lights"' in listing.text
        thread = await http.get("/desk/t/lights")
        assert thread.status_code == 200 and "<ins>" in thread.text, thread.text[-2000:]
        assert "default-src 'none'" in listing.headers["content-security-policy"]
        assert (await http.get("/desk/t/nope")).status_code == 404
        # The pages' guard, headers and error pages stay theirs: the API answers as before.
        ok = await http.get("/ok")
        assert ok.status_code == 200 and "content-security-policy" not in ok.headers
        missing = await http.get("/threads/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(
            "application/json"
        )
