"""Workers and jobs for the queue tests: fixtures for a RabbitMQ queue, a PostgreSQL database
and worker processes of this test's own, and waits for what they do.

Each test gets its own RabbitMQ queue and PostgreSQL schema; workers are real child processes
talking to the fake OpenAI server. The fixtures skip without RabbitMQ or PostgreSQL, and fail
instead under COPYDESK_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.config import Settings
from copydesk.graphs.queue import Job, wait_for
from tests._cli import cli_env, transcript, turns
from tests.conftest import _service_unavailable
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import DEFAULT_BROKER_URL, WorkerProcess, delete_queues, rabbitmq_reachable

TIMEOUT = 120.0


@pytest.fixture
def broker_url() -> str:
    url = os.environ.get("COPYDESK_TEST_BROKER_URL", DEFAULT_BROKER_URL)
    problem = rabbitmq_reachable(url)
    if problem is not None:
        _service_unavailable(f"RabbitMQ at 127.0.0.1:5672 is unreachable: {problem}")
    return url


@pytest.fixture
def queue(broker_url: str) -> Iterator[str]:
    name = f"copydesk_test_{secrets.token_hex(4)}"
    yield name
    delete_queues(broker_url, name)


@pytest.fixture
def env(
    home: Path, fake_server: FakeOpenAIServer, postgres_url: str, broker_url: str, queue: str
) -> dict[str, str]:
    """The environment of workers and CLI commands: one database, one queue, the fake API."""
    return cli_env(
        home,
        fake_server,
        COPYDESK_CHECKPOINT_URL=postgres_url,
        COPYDESK_BROKER_URL=broker_url,
        COPYDESK_QUEUE=queue,
    )


@pytest.fixture
def settings(make_settings: Callable[..., Settings], env: dict[str, str]) -> Settings:
    """The same settings, for calls from this process."""
    return make_settings(
        checkpoint_url=env["COPYDESK_CHECKPOINT_URL"],
        broker_url=env["COPYDESK_BROKER_URL"],
        queue=env["COPYDESK_QUEUE"],
        openai_base_url=env["OPENAI_BASE_URL"],
        openai_api_key=env["OPENAI_API_KEY"],
    )


@pytest.fixture
def workers(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes (`workers()` -> a started one); all are stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(concurrency: int = 4, *args: str) -> WorkerProcess:
        log = tmp_path / f"worker{len(started)}.log"
        worker = WorkerProcess(tmp_path, env, log, concurrency, args)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:  # SIGTERM to all first: they stop side by side
        if worker.process is not None and worker.process.poll() is None:
            worker.process.terminate()
    for worker in started:
        worker.stop(timeout=30)


def finished(settings: Settings, *job_ids: str) -> list[Job]:
    return asyncio.run(asyncio.wait_for(wait_for(settings, list(job_ids)), TIMEOUT))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_each_round_once(home: Path, thread_id: str, rounds: int) -> list[dict[str, Any]]:
    lines = transcript(home, thread_id)
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)), turns(lines)
    expected = [(agent, r) for r in range(1, rounds + 1) for agent in ("writer", "editor")]
    assert turns(lines) == expected
    return lines


async def _states(settings: Settings, job_ids: list[str]) -> list[str]:
    from copydesk.graphs.queue.producer import _jobs

    async with _jobs(settings) as table:
        by_id = {j.job_id: j.status for j in await table.many(job_ids)}
    return [by_id[i] for i in job_ids]
