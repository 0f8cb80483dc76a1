"""Traces in a real Arize Phoenix: a thread with a review pause and its resume, a queued thread
on a worker, read back through Phoenix's API.

One Phoenix serves the session (`tests/_phoenix.py`); the runs are real `copydesk` processes
against the fake OpenAI server, exporting over OTLP/HTTP as a user's would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from copydesk.agents.config import Settings
from tests._cli import cli_env, copydesk, ok
from tests._phoenix import Phoenix, Spans, children, free_port, names
from tests._phoenix import phoenix as phoenix
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import finished
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import EditorialResponder

CANARY = "sk-canary-7f3a9c1e5b2d4068a1f7c3e9b5d2a4f6"


def _named(spans: Spans, name: str) -> Spans:
    return [s for s in spans if s["name"] == name]


def _usage(home: Path) -> tuple[int, int]:
    lines = [json.loads(x) for x in (home / "usage.jsonl").read_text().splitlines()]
    return sum(x["prompt_tokens"] for x in lines), sum(x["completion_tokens"] for x in lines)


def _chat_tokens(spans: Spans) -> tuple[int, int]:
    chats = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "chat"]
    return (
        sum(s["attributes"]["gen_ai.usage.input_tokens"] for s in chats),
        sum(s["attributes"]["gen_ai.usage.output_tokens"] for s in chats),
    )


def test_a_reviewed_thread_and_its_resume_are_two_linked_traces(
    phoenix: Phoenix, tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    project, tracing = phoenix.project_env(COPYDESK_TRACE_CONTENT="1")
    run_env = cli_env(home, fake_server, **tracing, OPENAI_API_KEY=CANARY)
    topic = "Why every harbour town needs a tide clock"
    ok(copydesk(tmp_path, run_env, "run", "turn_taking", "--topic", topic, "--thread-id", "tide",
                "--review"))  # fmt: skip
    resume_env = {k: v for k, v in run_env.items() if k != "COPYDESK_TRACE_CONTENT"}
    ok(copydesk(tmp_path, resume_env, "resume", "tide", "--approve"))

    spans = phoenix.wait_for(
        project, lambda s: {"run turn_taking", "resume turn_taking"} <= set(names(s))
    )
    (run,) = _named(spans, "run turn_taking")
    (resume,) = _named(spans, "resume turn_taking")
    # One trace per run; the resume says which trace it continues.
    assert run["parent_id"] is None and resume["parent_id"] is None
    assert run["context"]["trace_id"] != resume["context"]["trace_id"]
    assert run["context"]["trace_id"] in resume["attributes"]["copydesk.continues"]
    assert run["attributes"]["copydesk.status"] == "waiting_for_review"
    assert resume["attributes"]["copydesk.status"] == "approved"
    assert run["attributes"]["session.id"] == resume["attributes"]["session.id"] == "tide"

    # The tree: the run, a span per agent turn, under each its recall and its model call.
    turns = [s for s in children(spans, run) if s["name"].startswith("invoke_agent")]
    assert [t["name"] for t in turns] == [
        "invoke_agent writer", "invoke_agent editor", "invoke_agent writer", "invoke_agent editor",
    ]  # fmt: skip
    assert [t["attributes"]["copydesk.round"] for t in turns] == [1, 1, 2, 2]
    assert {t["attributes"]["copydesk.topology"] for t in turns} == {"turn_taking"}
    assert turns[0]["attributes"]["copydesk.prompt"] == "writer@v1"
    for turn in turns:
        below = children(spans, turn)
        assert "recall" in [s["name"] for s in below]
        (call,) = [s for s in below if s["name"] == "chat gpt-4o-mini"]
        attributes = call["attributes"]
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert attributes["gen_ai.agent.name"] == turn["attributes"]["gen_ai.agent.name"]
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
        assert attributes["copydesk.attempts"] == 1
        assert attributes["gen_ai.usage.input_tokens"] > 0
    editor_call = next(s for s in children(spans, turns[1]) if s["name"].startswith("chat"))
    assert editor_call["attributes"]["copydesk.structured_mode"] == "json_schema"
    assert any(s["name"] == "checkpoint write" for s in children(spans, run))
    assert any(s["name"] == "checkpoint write" for s in children(spans, resume))

    # The tokens are those usage.jsonl counted; content only where it was asked for.
    assert _chat_tokens(spans) == _usage(home)
    first_call = next(s for s in children(spans, turns[0]) if s["name"].startswith("chat"))
    assert topic in first_call["attributes"]["gen_ai.input.messages"]
    assert not any("gen_ai.input.messages" in s["attributes"] for s in children(spans, resume))
    assert CANARY not in json.dumps(spans)


def test_a_queued_threads_worker_spans_join_the_submitters_trace(
    phoenix: Phoenix,
    tmp_path: Path,
    home: Path,
    fake_server: FakeOpenAIServer,
    env: dict[str, str],
    settings: Settings,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = EditorialResponder(decisions=("approve",))
    project, tracing = phoenix.project_env()
    env.update(tracing, OPENAI_API_KEY=CANARY)
    port = free_port()
    workers(2, "--metrics-port", str(port))
    submitted = ok(copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Lighthouses",
                            "--json"))  # fmt: skip
    job: dict[str, Any] = json.loads(submitted.stdout)
    (done,) = finished(settings, job["job_id"])
    assert done.status == "done"
    assert "traceparent" in done.request

    spans = phoenix.wait_for(project, lambda s: {"submit", "run turn_taking"} <= set(names(s)))
    (submit,) = _named(spans, "submit")
    (job_span,) = _named(spans, "job")
    (run,) = _named(spans, "run turn_taking")
    trace = submit["context"]["trace_id"]
    assert submit["parent_id"] is None
    assert job_span["parent_id"] == submit["context"]["span_id"]  # across the two processes
    assert run["parent_id"] == job_span["context"]["span_id"]
    assert {s["context"]["trace_id"] for s in spans} == {trace}
    assert [s["name"] for s in children(spans, run) if s["name"].startswith("invoke")] == [
        "invoke_agent writer", "invoke_agent editor",
    ]  # fmt: skip
    assert _chat_tokens(spans) == _usage(home)
    assert CANARY not in json.dumps(spans)

    # The worker's metrics, as Prometheus reads them (loopback: no token needed).
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    calls = re.search(r'copydesk_model_calls_total\{gen_ai_agent_name="editor",.*\} (\S+)', scraped)
    assert calls is not None and float(calls.group(1)) == 1.0, scraped
    assert "copydesk_limiter_wait_seconds_count" in scraped
    assert "copydesk_breaker_open" in scraped


@pytest.mark.browser
def test_copydesk_traces_receives_and_shows_the_traced_runs_of_its_home(
    phoenix: Phoenix, tmp_path: Path
) -> None:
    env = cli_env(phoenix.home, COPYDESK_OFFLINE="1", COPYDESK_TRACES="1")
    ok(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Buoys", "--thread-id", "buoys"))

    def runs(spans: Spans) -> Spans:
        return [
            s for s in _named(spans, "run turn_taking") if s["attributes"]["session.id"] == "buoys"
        ]

    (run,) = runs(phoenix.wait_for("copydesk", lambda s: bool(runs(s))))
    assert run["attributes"]["copydesk.status"] == "approved"

    # As a person sees it: Phoenix's page of the trace, a model call's GenAI attributes.
    from playwright.sync_api import sync_playwright

    from tests.test_web_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium

    projects = httpx.get(f"{phoenix.url}/v1/projects", timeout=30).json()["data"]
    project = next(p["id"] for p in projects if p["name"] == "copydesk")
    trace = run["context"]["trace_id"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)  # a loaded CI machine; nothing here measures time
        page.goto(f"{phoenix.url}/projects/{project}/traces/{trace}")
        page.get_by_text("invoke_agent editor").first.wait_for()
        page.get_by_text("chat gpt-4o-mini").first.click()
        page.get_by_role("tab", name="Attributes").click()
        page.get_by_text("gen_ai.usage.input_tokens").first.wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "phoenix-trace.png"))  # docs/phoenix-trace.png
        browser.close()
    assert (ARTIFACTS / "phoenix-trace.png").stat().st_size > 10_000
