"""What workers share through the services: one Redis rate budget, and memories in
PostgreSQL recalled by a worker on another machine."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from copydesk.agents.config import Settings
from copydesk.graphs.queue import Job, submit, wait_for
from tests._queue import TIMEOUT, finished

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests.conftest import _service_unavailable
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import ByRoundResponder

pytestmark = pytest.mark.slow


# --- three workers share the Redis budget ----------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("COPYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        _service_unavailable(f"Redis at {url} is unreachable: {error}")
    return url


def test_three_workers_share_the_budget_with_almost_no_429s(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    redis_url: str,
) -> None:
    fake_server.responder = ByRoundResponder(approve_at=2)
    fake_server.latency = 0.05
    fake_server.enforce(rps=8)
    shared = {**env, "COPYDESK_REDIS_URL": redis_url, "COPYDESK_RPM": "480",
              "COPYDESK_MEMORY": "false"}  # fmt: skip
    workers = [
        WorkerProcess(tmp_path, shared, tmp_path / f"budget{n}.log", concurrency=6)
        for n in range(3)
    ]
    try:
        for worker in workers:
            worker.start()
        topics = [f"Topic {n}" for n in range(30)]
        jobs = asyncio.run(asyncio.wait_for(_submit_and_wait(settings, topics), TIMEOUT * 2))
    finally:
        for worker in workers:
            worker.stop(timeout=30)

    assert [j.status for j in jobs] == ["done"] * 30
    assert all(j.result is not None and j.result["status"] == "approved" for j in jobs)
    calls = len(fake_server.chat_requests())
    assert calls >= 120  # 30 threads x (2 drafts + 2 verdicts), plus any retries
    # Without the shared budget three workers at 8/s each would see about two in three
    # refused. A couple may still be: the server counts kernel arrival times, and on a loaded
    # 2-core machine a worker's request can leave tens of ms after its send check (CI saw 2
    # of 122); the limiter widens its check after such a refusal.
    assert fake_server.rejected_429 <= max(2, calls // 50), (fake_server.rejected_429, calls)
    served = {log.text().count("approved") for log in workers}
    assert all(n > 0 for n in served), "every worker took part"


async def _submit_and_wait(settings: Settings, topics: list[str]) -> list[Job]:
    from copydesk.graphs.queue import submit_many

    queued = await submit_many(settings, "turn_taking", topics)
    return await wait_for(settings, [q.job_id for q in queued])


# --- memory written on one worker is recalled on another -------------------------------------


def test_memory_written_by_one_worker_is_recalled_by_another(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    postgres_url: str,
) -> None:
    fake_server.responder = ByRoundResponder(approve_at=1)
    shared = {**env, "COPYDESK_STORE_URL": postgres_url}
    # Two machines, as far as files go: each worker has its own home (no shared SQLite or FAISS).
    first = {**shared, "COPYDESK_HOME": str(tmp_path / "machine-a")}
    second = {**shared, "COPYDESK_HOME": str(tmp_path / "machine-b")}

    with WorkerProcess(tmp_path, first, tmp_path / "a.log"):
        told = asyncio.run(submit(settings, "turn_taking", topic="Kites fly over Weifang in April"))
        finished(settings, told.job_id)
    before = len(fake_server.chat_requests())
    with WorkerProcess(tmp_path, second, tmp_path / "b.log"):
        asked = asyncio.run(submit(settings, "turn_taking", topic="Kites"))
        [job] = finished(settings, asked.job_id)

    assert job.status == "done", job
    seen = [
        str(message.get("content", ""))
        for request in fake_server.chat_requests()[before:]
        for message in (request.body or {}).get("messages", [])
    ]
    assert any("Weifang" in text for text in seen), "the second worker recalled the first's fact"
    assert not (tmp_path / "machine-b" / "memory").exists() or not any(
        (tmp_path / "machine-b" / "memory").glob("*.sqlite")
    ), "no local item database: PostgreSQL is the source of truth"
