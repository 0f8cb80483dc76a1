"""`copydesk stop` of a thread handed to the workers: a real worker process running it stops
after the step in progress, saved with `ended_by: stopped`, and `resume` finishes it; a
thread still waiting in the queue is withdrawn and never starts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from copydesk.agents.config import Settings
from copydesk.graphs.cli.queue import _row
from copydesk.graphs.errors import UnknownThreadError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.queue.jobs import WITHDRAWN, Job, JobTable
from copydesk.graphs.queue.stop import stop_queued
from copydesk.graphs.stopping import StopAnswer
from copydesk.memory.runs import RunRecord
from tests._cli import assert_one_line_error, copydesk, ok, ok_json

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import _states, assert_each_round_once, finished, wait_until
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import HeldEditor


@pytest.mark.slow
def test_a_stop_ends_the_thread_a_worker_runs_and_resume_finishes_it(
    tmp_path: Path,
    home: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    held = HeldEditor(decisions=("revise",))
    fake_server.responder = held
    worker = workers()
    queued = ok_json(
        copydesk(tmp_path, env, "submit", "turn_taking", "-t", "Ferry bells", "--max-rounds",
                 "3", "--json")
    )  # fmt: skip
    thread = queued["thread_id"]
    try:
        assert held.asked.wait(timeout=90), "the worker never reached the editor"
        asked = ok_json(copydesk(tmp_path, env, "stop", thread, "--json"))
    finally:
        held.release.set()
    assert worker.process is not None
    assert (asked["asked"], asked["pid"], asked["withdrawn"]) == (True, worker.process.pid, [])

    [job] = finished(settings, queued["job_id"])
    assert job.result is not None, job
    assert (job.result["status"], job.result["ended_by"], job.result["rounds"]) == (
        "interrupted",
        "stopped",
        1,
    )  # the editor's turn in progress finished and was saved; no second round began
    assert_each_round_once(home, thread, 1)
    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert [(t["thread_id"], t["status"], t["ended_by"]) for t in listed] == [
        (thread, "interrupted", "stopped")
    ]

    resumed = ok_json(copydesk(tmp_path, env, "resume", thread, "--json"))
    assert (resumed["status"], resumed["ended_by"], resumed["rounds"]) == (
        "out_of_rounds",
        "max_rounds",
        3,
    )
    assert_each_round_once(home, thread, 3)  # nothing lost, nothing repeated


@pytest.mark.slow
def test_a_stop_of_a_queued_thread_withdraws_it_and_it_never_starts(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    withdrawn = ok_json(copydesk(tmp_path, env, "submit", "turn_taking", "-t", "Kites", "--json"))
    other = ok_json(copydesk(tmp_path, env, "submit", "turn_taking", "-t", "Rain", "--json"))

    stopped = ok(copydesk(tmp_path, env, "stop", withdrawn["thread_id"]))
    assert "was queued and no worker had started it" in stopped.stdout
    assert withdrawn["job_id"] in stopped.stdout and "will not run" in stopped.stdout
    states = asyncio.run(_states(settings, [withdrawn["job_id"], other["job_id"]]))
    assert states == ["stopped", "queued"]
    again = copydesk(tmp_path, env, "stop", withdrawn["thread_id"])  # nothing left to stop
    assert "unknown thread" in assert_one_line_error(again, 2)

    worker = workers()
    [done] = finished(settings, other["job_id"])
    assert done.status == "done"
    wait_until(
        lambda: f"job {withdrawn['job_id']} was already stopped" in worker.text(),
        "the worker to receive the withdrawn job",
    )
    [never] = finished(settings, withdrawn["job_id"])
    assert (never.status, never.deliveries, never.result) == ("stopped", 0, None)
    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert [t["thread_id"] for t in listed] == [other["thread_id"]]
    sent = " ".join(json.dumps(r.body) for r in fake_server.chat_requests())
    assert "Rain" in sent and "Kites" not in sent


async def test_a_withdrawn_job_is_never_taken(postgres_url: str) -> None:
    """A worker that took the message just before the stop finds the job withdrawn."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
        table = JobTable(db)
        await table.setup()
        first, second = Job("j1", "t1", "run", {}), Job("j2", "t2", "run", {})
        await table.add([first, second])
        assert await table.withdraw("t1") == (["j1"], False)
        assert await table.take(first, None) is None
        assert await table.take(second, None) is not None
        assert await table.withdraw("t2") == ([], True)  # taken: it is the run's to stop
        assert [j.status for j in await table.many(["j1", "j2"])] == ["stopped", "running"]


async def test_a_stop_waits_a_moment_for_a_taken_job_to_start(
    make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    """A job a worker has taken but not begun: the stop asks again until the run can hear it,
    then, if the run never began, answers as for the thread as it stands."""
    settings = make_settings(checkpoint_url=postgres_url, memory=False, max_rounds=1)
    async with ConversationManager(settings) as manager:
        await manager.run("turn_taking", topic="Bells", thread_id="ended")
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
            table = JobTable(db)
            await table.setup()
            jobs = [Job("j1", "ended", "resume", {}), Job("j2", "new", "run", {})]
            await table.add(jobs)
            for job in jobs:
                await table.take(job, None)
        answer = await stop_queued(manager, settings, "ended", wait=0.3, every=0.1)
        assert answer.asked is None and answer.result is not None
        assert answer.result.status == "out_of_rounds" and answer.withdrawn == ()
        with pytest.raises(UnknownThreadError):
            await stop_queued(manager, settings, "new", wait=0.3, every=0.1)


async def test_a_stop_where_nothing_was_ever_queued_writes_no_job_table(
    make_settings: Callable[..., Settings], postgres_url: str
) -> None:
    settings = make_settings(checkpoint_url=postgres_url, memory=False)
    async with ConversationManager(settings) as manager:
        with pytest.raises(UnknownThreadError):
            await stop_queued(manager, settings, "nosuch")
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
        cursor = await db.execute("SELECT to_regclass('copydesk_queue_jobs')")
        assert await cursor.fetchone() == (None,)


def test_what_a_stop_of_a_queued_thread_says() -> None:
    running = RunRecord("t", "running", "host-a", 42, 0.0, 0.0)
    both = StopAnswer("t", running, withdrawn=("job-1",))
    assert both.message().startswith("stop asked of thread 't' (process 42 on host-a)")
    assert both.message().endswith("; 1 queued job(s) withdrawn (job-1)")
    assert both.as_json() == {
        "thread_id": "t",
        "asked": True,
        "host": "host-a",
        "pid": 42,
        "result": None,
        "withdrawn": ["job-1"],
    }
    row = _row(Job("job-1", "t", "run", {}, status="stopped", error=WITHDRAWN), "Kites")
    assert (row["status"], row["error"]) == ("stopped", WITHDRAWN)  # run-many --queue's row
