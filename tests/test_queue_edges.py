"""The queue at its edges: a job whose model refuses is reported failed with its error, the
text forms of `submit`, `run-many --queue` and `resume --queue`, and the requests the
producer refuses before anything is queued (PostgreSQL only, no broker needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.config import Settings
from copydesk.agents.errors import ConfigError
from copydesk.graphs.errors import InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.queue import submit, submit_many, submit_resume
from tests._cli import copydesk, ok
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import EditorialResponder

pytestmark = pytest.mark.slow


class RefusesDoomedTopics:
    """Approves at once, except that the editor's call after a draft on a topic with
    "Doomed" in it is refused (HTTP 400, which no retry mends)."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server, self.editorial = server, EditorialResponder(decisions=("approve",))

    def __call__(self, body: dict[str, Any]) -> Reply:
        typed = "response_format" in body or "tools" in body
        text = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
        if not typed and "Topic: Doomed" in text:
            self.server.faults.add(Fault.status(400))
        return self.editorial(body)


def test_a_refused_job_is_failed_with_its_error_and_can_be_resumed(
    tmp_path: Path,
    env: dict[str, str],
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = RefusesDoomedTopics(fake_server)
    (tmp_path / "topics.txt").write_text("Calm seas\nDoomed voyage\n", encoding="utf-8")
    workers(concurrency=1)  # one job at a time: the refusal meets the doomed thread's editor

    done = copydesk(tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    calm, doomed, error = done.stdout.splitlines()
    assert calm.split()[1] == "approved" and calm.endswith("Calm seas")
    assert doomed.split()[1] == "failed" and doomed.endswith("Doomed voyage")
    assert error.startswith("  ") and "400" in error
    thread = doomed.split()[0]

    resumed = ok(copydesk(tmp_path, env, "resume", thread, "--queue"))
    submitted = ok(copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Quiet harbour"))
    queued = ok(
        copydesk(tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue",
                 "--no-wait")
    )  # fmt: skip

    assert resumed.stdout == f"{thread}\n"
    assert len(submitted.stdout.split()) == 1
    assert [line.split("  ")[1:] for line in queued.stdout.splitlines()] == [
        ["queued", "Calm seas"],
        ["queued", "Doomed voyage"],
    ]


async def _waiting_and_finished(given: Settings) -> None:
    async with ConversationManager(given) as manager:  # offline: no key in these settings
        await manager.run("turn_taking", topic="Buoys", thread_id="waiting", review=True)
        await manager.run("turn_taking", topic="Piers", thread_id="finished")


@pytest.fixture
def offline_settings(make_settings: Callable[..., Settings], postgres_url: str) -> Settings:
    """PostgreSQL checkpoints, the offline model, a broker nobody listens on."""
    return make_settings(
        checkpoint_url=postgres_url,
        broker_url="amqp://guest:guest@127.0.0.1:1//",
        memory=False,
    )


def test_the_producer_refuses_before_queueing(offline_settings: Settings) -> None:
    asyncio.run(_waiting_and_finished(offline_settings))

    with pytest.raises(InputError, match=r"'waiting' has not finished \(waiting_for_review\)"):
        asyncio.run(submit(offline_settings, "turn_taking", topic="x", thread_id="waiting"))
    with pytest.raises(InputError, match="the topic is empty"):
        asyncio.run(submit(offline_settings, "turn_taking", topic=" ", thread_id="brand-new"))
    with pytest.raises(InputError, match=r"'finished' is not waiting for review \(approved\)"):
        asyncio.run(submit_resume(offline_settings, "finished", answer={"action": "approve"}))
    with pytest.raises(InputError, match="a topic is empty; write one topic per line"):
        asyncio.run(submit_many(offline_settings, "turn_taking", ["Gulls", "  "]))


def test_an_unreachable_database_is_named(make_settings: Callable[..., Settings]) -> None:
    unreachable = make_settings(checkpoint_url="postgresql://postgres@127.0.0.1:1/x")

    with pytest.raises(ConfigError, match="cannot reach the PostgreSQL of COPYDESK_CHECKPOINT"):
        asyncio.run(submit_many(unreachable, "turn_taking", ["Gulls"]))
