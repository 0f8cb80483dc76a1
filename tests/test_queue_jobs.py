"""Conversations on `copydesk worker` processes through RabbitMQ: submitted, run many at once,
and paused for a human review and resumed, all through the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import SearchItem

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.embeddings import ClientEmbedder
from copydesk.agents.config import Settings
from copydesk.graphs.queue import submit_resume
from copydesk.memory.vector import FaissStore
from tests._cli import assert_one_line_error, copydesk, ok_json
from tests._queue import _states, assert_each_round_once, finished

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import ByRoundResponder

pytestmark = pytest.mark.slow


# --- submit, and a worker finishes it --------------------------------------------------------


def test_submit_and_finish(
    tmp_path: Path,
    home: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = ByRoundResponder(approve_at=2)
    workers()

    queued = ok_json(copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Kites", "--json"))
    [job] = finished(settings, queued["job_id"])

    assert job.status == "done", job
    assert job.thread_id == queued["thread_id"]
    assert job.result is not None
    assert job.result["status"] == "approved"
    assert job.result["final_draft"] == "Round 2 draft on Kites."
    assert_each_round_once(home, job.thread_id, 2)
    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert [(t["thread_id"], t["status"]) for t in listed] == [(job.thread_id, "approved")]


def test_run_many_queue_waits_for_every_thread(
    tmp_path: Path,
    env: dict[str, str],
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = ByRoundResponder(approve_at=1)
    (tmp_path / "topics.txt").write_text("Kites\n\nRain\nSalt\n", encoding="utf-8")
    workers(concurrency=2)
    workers(concurrency=2)

    rows = ok_json(
        copydesk(tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue", "--json")
    )

    assert [(r["topic"], r["status"]) for r in rows] == [
        ("Kites", "approved"),
        ("Rain", "approved"),
        ("Salt", "approved"),
    ]
    assert [r["final_draft"] for r in rows] == [
        f"Round 1 draft on {t}." for t in ("Kites", "Rain", "Salt")
    ]
    assert len({r["thread_id"] for r in rows}) == 3
    assert all(r["usage"]["calls"] == 2 for r in rows)


def test_run_many_no_wait_returns_the_thread_ids_at_once(
    tmp_path: Path, env: dict[str, str], settings: Settings, workers: Callable[..., WorkerProcess]
) -> None:
    (tmp_path / "topics.txt").write_text("Kites\nRain\n", encoding="utf-8")

    rows = ok_json(
        copydesk(tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue",
                 "--no-wait", "--json")
    )  # fmt: skip

    assert [r["topic"] for r in rows] == ["Kites", "Rain"]
    jobs = asyncio.run(_states(settings, [r["job_id"] for r in rows]))
    assert jobs == ["queued", "queued"]  # no worker yet: nothing ran, nothing was lost
    workers()
    assert [j.status for j in finished(settings, *(r["job_id"] for r in rows))] == ["done", "done"]


def test_a_job_reports_done_with_its_memories_embedded(
    tmp_path: Path,
    home: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    """With a slow embedding server, the worker waits (bounded) for the job's last memories
    before it reports done: once done, every memory has its vector and a search scores it."""
    fake_server.responder = ByRoundResponder(approve_at=2)
    fake_server.embeddings_latency = 1.0
    workers()
    queued = ok_json(copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Kites", "--json"))
    [job] = finished(settings, queued["job_id"])
    assert job.status == "done", job

    async def look() -> tuple[dict[str, Any], list[SearchItem]]:
        client = OpenAIClient(base_url=fake_server.base_url)
        store = FaissStore(home / "memory", embedder=ClientEmbedder(client), fields=["text"])
        try:  # read only: the pending count is what the worker left
            stats = store.stats()
            return stats, await store.asearch(("copydesk", "thread"), query="Kites", limit=50)
        finally:
            store.close()
            await client.aclose()

    stats, found = asyncio.run(look())
    assert stats["pending"] == 0 and stats["vectors"] == stats["items"] > 0
    assert found and all(item.score is not None for item in found)


# --- human review through the queue ----------------------------------------------------------


def test_review_pauses_and_resumes_through_the_queue(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = ByRoundResponder(approve_at=1)
    workers()
    queued = ok_json(
        copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Kites", "--review", "--json")
    )
    [paused] = finished(settings, queued["job_id"])
    assert paused.result is not None
    assert paused.result["status"] == "waiting_for_review"
    assert paused.result["review"]["draft"] == "Round 1 draft on Kites."

    needs_answer = copydesk(tmp_path, env, "resume", queued["thread_id"], "--queue")
    assert "--approve" in assert_one_line_error(needs_answer, 2)
    answered = ok_json(
        copydesk(tmp_path, env, "resume", queued["thread_id"], "--queue", "--feedback",
                 "Shorter, please.", "--json")
    )  # fmt: skip
    [revised] = finished(settings, answered["job_id"])
    assert revised.result is not None
    assert (revised.result["status"], revised.result["rounds"]) == ("waiting_for_review", 2)

    approval = asyncio.run(
        submit_resume(settings, queued["thread_id"], answer={"action": "approve"})
    )
    [done] = finished(settings, approval.job_id)

    assert done.result is not None
    assert (done.result["status"], done.result["ended_by"]) == ("approved", "human")
    assert done.result["final_draft"] == "Round 2 draft on Kites."
