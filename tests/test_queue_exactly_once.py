"""Every turn of a queued conversation runs exactly once: through a worker killed with
SIGKILL, a job delivered twice, a worker that loses its lock connection, a broker restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from copydesk.agents.config import Settings
from copydesk.graphs.queue import submit
from copydesk.graphs.queue.producer import _publish
from tests._queue import TIMEOUT, _states, assert_each_round_once, finished, wait_until

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.conftest import _service_unavailable
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import ByRoundResponder

pytestmark = pytest.mark.slow


# --- exactly once through a worker killed with SIGKILL ---------------------------------------


def test_sigkilled_worker_another_finishes_the_thread_exactly(
    home: Path,
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.latency = 0.3
    fake_server.responder = ByRoundResponder(approve_at=3)
    first = workers()
    queued = asyncio.run(submit(settings, "turn_taking", topic="Kites", max_rounds=5))
    path = home / "transcripts" / f"{queued.thread_id}.jsonl"
    wait_until(
        lambda: path.exists() and path.read_text(encoding="utf-8").count("\n") >= 2,
        "two turns of the first worker",
    )
    first.kill()
    assert asyncio.run(_states(settings, [queued.job_id])) == ["running"]
    killed_at = len(fake_server.chat_requests())
    assert killed_at < 6, "the killed worker must not have finished every turn"

    workers()
    [job] = finished(settings, queued.job_id)

    assert job.status == "done", job
    assert job.deliveries == 2
    assert job.result is not None
    assert (job.result["status"], job.result["rounds"]) == ("approved", 3)
    lines = assert_each_round_once(home, queued.thread_id, 3)
    assert lines[-2]["text"] == job.result["final_draft"] == "Round 3 draft on Kites."
    # At most the one call that was in flight at the kill is made again.
    assert len(fake_server.chat_requests()) in (6, 7)


# --- two workers, one thread: never both -----------------------------------------------------


def test_a_duplicate_delivery_never_runs_a_thread_twice(
    home: Path,
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.latency = 0.2
    fake_server.responder = ByRoundResponder(approve_at=3)
    one, two = workers(), workers()
    queued = asyncio.run(submit(settings, "turn_taking", topic="Kites", max_rounds=5))
    # The same job delivered twice at once, as after a lost acknowledgement.
    _publish(settings.broker_url, settings.queue, [queued.job_id])

    [job] = finished(settings, queued.job_id)
    logs = lambda: one.text() + two.text()  # noqa: E731
    wait_until(lambda: f"job {queued.job_id} was already done" in logs(), "the duplicate")

    assert f"thread {queued.thread_id} is running on another worker" in logs()
    assert job.deliveries == 1  # the duplicate never took the job
    assert_each_round_once(home, queued.thread_id, 3)
    assert len(fake_server.chat_requests()) == 6  # one run's calls, not two


async def _hold_both(url: str, thread_id: str) -> tuple[bool, bool, bool]:
    from copydesk.graphs.queue.lock import ThreadBusy, ThreadLocks

    first, second = ThreadLocks(url), ThreadLocks(url)
    await first.open()
    await second.open()
    try:
        async with first.hold(thread_id):
            try:
                async with second.hold(thread_id):
                    both = True
            except ThreadBusy:
                both = False
            async with second.hold("another-thread"):
                other = True
        async with second.hold(thread_id):
            after_release = True
        async with first.hold(thread_id):
            await first.close()  # the holder's connection dies, as with SIGKILL
        after_death = False
        for _ in range(200):  # the server ends the dead session a moment later
            try:
                async with second.hold(thread_id):
                    after_death = True
                break
            except ThreadBusy:
                await asyncio.sleep(0.05)
    finally:
        await second.close()
    return both, other and after_release, after_death


def test_thread_lock_is_held_by_one_worker_at_a_time(postgres_url: str) -> None:
    both, others_free, freed_by_death = asyncio.run(_hold_both(postgres_url, "T1"))

    assert not both
    assert others_free
    assert freed_by_death


def test_a_worker_that_loses_its_lock_connection_stops_and_another_finishes(
    home: Path,
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
    postgres_url: str,
) -> None:
    import psycopg

    fake_server.latency = 0.3
    fake_server.responder = ByRoundResponder(approve_at=3)
    first = workers()
    queued = asyncio.run(submit(settings, "turn_taking", topic="Kites", max_rounds=5))
    path = home / "transcripts" / f"{queued.thread_id}.jsonl"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, "the first turn")
    assert first.process is not None
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"copydesk-locks-{first.process.pid}",),
        )
    first.process.wait(timeout=TIMEOUT)

    assert first.process.returncode == 1
    assert "lost its PostgreSQL connection" in first.text()
    workers()
    [job] = finished(settings, queued.job_id)
    assert job.result is not None
    assert (job.result["status"], job.result["rounds"]) == ("approved", 3)
    assert_each_round_once(home, queued.thread_id, 3)


# --- a broker restart loses nothing ----------------------------------------------------------


def test_broker_restart_loses_no_submitted_thread(
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None or os.geteuid() != 0:
        _service_unavailable("restarting RabbitMQ needs rabbitmqctl as root")
    fake_server.responder = ByRoundResponder(approve_at=1)
    queued = asyncio.run(submit(settings, "turn_taking", topic="Kites"))

    for step in ("stop_app", "start_app", "await_startup"):
        subprocess.run([str(ctl), step], check=True, capture_output=True, timeout=120)
    workers()
    [job] = finished(settings, queued.job_id)

    assert job.status == "done"
    assert job.result is not None
    assert job.result["status"] == "approved"
