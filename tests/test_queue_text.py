"""What the queue commands print without `--json`: a submitted thread's id, the threads queued by
`run-many --no-wait`, each finished thread's line (and its error when it failed, exit 1), and
the id of a thread resumed through the queue."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from copydesk.agents.config import Settings
from tests._cli import copydesk, ok_json

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import finished
from tests._queue import queue as queue
from tests._queue import settings as settings
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import ByRoundResponder

pytestmark = pytest.mark.slow


def test_submit_and_resume_print_the_thread_id(
    tmp_path: Path,
    env: dict[str, str],
    settings: Settings,
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = ByRoundResponder(approve_at=1)
    submitted = copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Rain")
    assert submitted.returncode == 0, submitted.stderr
    assert re.fullmatch(r"[\w-]+\n", submitted.stdout), submitted.stdout

    queued = ok_json(
        copydesk(tmp_path, env, "submit", "turn_taking", "--topic", "Kites", "--review", "--json")
    )
    workers()
    [paused] = finished(settings, queued["job_id"])
    assert paused.result is not None and paused.result["status"] == "waiting_for_review"

    resumed = copydesk(tmp_path, env, "resume", queued["thread_id"], "--queue", "--approve")

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == f"{queued['thread_id']}\n"


def test_run_many_without_waiting_lists_each_queued_thread(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "topics.txt").write_text("Kites\nRain\n", encoding="utf-8")

    listed = copydesk(
        tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue", "--no-wait"
    )

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split("  ")[1:] for line in lines] == [["queued", "Kites"], ["queued", "Rain"]]


def test_run_many_prints_a_line_per_thread_and_each_failure_then_exits_1(
    tmp_path: Path,
    env: dict[str, str],
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.api_key = "a-key-nobody-has"  # every call refused: each job fails for good
    (tmp_path / "topics.txt").write_text("Kites\nRain\n", encoding="utf-8")
    workers()

    ran = copydesk(tmp_path, env, "run-many", "topics.txt", "-g", "turn_taking", "--queue")

    assert ran.returncode == 1, ran.stderr
    lines = ran.stdout.splitlines()
    assert [line.split()[1:3] for line in lines[0::2]] == [["failed", "$0.0000"]] * 2
    assert [line.split()[-1] for line in lines[0::2]] == ["Kites", "Rain"]
    assert all(line.startswith("  ") and "key" in line for line in lines[1::2])
