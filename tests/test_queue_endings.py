"""`--until` and `--timeout` travel with a queued job: read and checked at submit time (bad
ones are one line, exit 2, nothing queued), applied by the worker, the timeout counted from
when the worker starts the run; a thread that timed out resumes through the queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from copydesk.agents.config import Settings
from copydesk.graphs.errors import EndingError
from copydesk.graphs.queue import submit, submit_many, submit_resume
from tests._cli import assert_one_line_error, copydesk, ok_json

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import finished
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import ByRoundResponder, HeldEditor

pytestmark = pytest.mark.slow


def _queued_jobs(env: dict[str, str]) -> int:
    with psycopg.connect(env["COPYDESK_CHECKPOINT_URL"]) as db:
        (table,) = db.execute("SELECT to_regclass('copydesk_queue_jobs')").fetchone() or (None,)
        if table is None:
            return 0
        row = db.execute("SELECT count(*) FROM copydesk_queue_jobs").fetchone()
        return int(row[0]) if row else 0


def test_bad_endings_are_refused_before_anything_is_queued(
    tmp_path: Path, env: dict[str, str], settings: Settings
) -> None:
    (tmp_path / "topics.txt").write_text("Kites\n", encoding="utf-8")
    cases = [
        (["submit", "turn_taking", "-t", "Kites", "--until", "approved &"], "--until"),
        (["submit", "turn_taking", "-t", "Kites", "--until", "aproved"], "approved"),
        (["submit", "turn_taking", "-t", "Kites", "--timeout", "10"], "90s, 10m or 2h"),
        (["submit", "turn_taking", "-t", "Kites", "--timeout", "0s"], "out of range"),
        (["run-many", "topics.txt", "-g", "turn_taking", "--queue", "--until", "x>"], "--until"),
        (["resume", "some-thread", "--queue", "--timeout", "1d"], "--timeout"),
    ]
    for args, named in cases:
        assert named in assert_one_line_error(copydesk(tmp_path, env, *args), 2), args
    with pytest.raises(EndingError):
        asyncio.run(submit(settings, "turn_taking", topic="Kites", until="rounds>="))
    with pytest.raises(EndingError):
        asyncio.run(submit_many(settings, "turn_taking", ["Kites"], time_limit=0.0))
    with pytest.raises(EndingError):
        asyncio.run(submit_resume(settings, "some-thread", time_limit=-1.0))
    assert _queued_jobs(env) == 0


def test_until_is_applied_by_the_worker(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    """The editor approves from round 1; `approved & rounds>=2` runs a second round."""
    fake_server.responder = ByRoundResponder(approve_at=1)
    (tmp_path / "topics.txt").write_text("Kites\nRain\n", encoding="utf-8")
    workers()

    queued = ok_json(
        copydesk(tmp_path, env, "submit", "turn_taking", "-t", "Salt", "--max-rounds", "5",
                 "--until", "approved & rounds>=2", "--json")
    )  # fmt: skip
    rows = ok_json(
        copydesk(tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue",
                 "--until", "approved & rounds>=2", "--json")
    )  # fmt: skip

    [job] = finished(settings, queued["job_id"])
    assert job.result is not None
    assert (job.result["status"], job.result["ended_by"], job.result["rounds"]) == (
        "approved",
        "approved & rounds>=2",
        2,
    )
    assert [r["final_draft"] for r in rows] == ["Round 2 draft on Kites.", "Round 2 draft on Rain."]


def test_a_timeout_counts_from_the_worker_start_and_the_thread_resumes(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    held = HeldEditor(decisions=("revise",))
    fake_server.responder = held
    queued = ok_json(
        copydesk(tmp_path, env, "submit", "turn_taking", "-t", "Ferry bells", "--max-rounds",
                 "6", "--until", "rounds>=3", "--timeout", "5s", "--json")
    )  # fmt: skip
    time.sleep(6)  # longer than the timeout, in the queue: it has not started counting

    workers()
    assert held.asked.wait(timeout=90), "the worker never ran the first turn"
    time.sleep(6)  # the timeout passes while the editor's turn is in progress
    held.release.set()

    [job] = finished(settings, queued["job_id"])
    assert job.result is not None, job
    assert (job.result["status"], job.result["ended_by"], job.result["rounds"]) == (
        "interrupted",
        "timeout",
        1,
    )  # the turn in progress finished and was saved; the run stopped before the next
    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert [(t["status"], t["ended_by"]) for t in listed] == [("interrupted", "timeout")]

    resumed = ok_json(
        copydesk(tmp_path, env, "resume", job.thread_id, "--queue", "--timeout", "1h", "--json")
    )
    [done] = finished(settings, resumed["job_id"])
    assert done.request["time_limit"] == 3600  # the resumed run's own limit, in seconds
    assert done.result is not None
    assert (done.result["status"], done.result["ended_by"], done.result["rounds"]) == (
        "out_of_rounds",
        "rounds>=3",
        3,
    )
