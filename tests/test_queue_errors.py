"""The queue's errors are one line: a broker that cannot be reached, checkpoints that are not
on PostgreSQL, bad input refused before anything is queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from copydesk.agents.config import Settings
from tests._cli import assert_one_line_error, cli_env, copydesk

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import settings as settings

pytestmark = pytest.mark.slow


def test_unreachable_broker_is_one_line_and_marks_the_job_failed(
    tmp_path: Path, env: dict[str, str], settings: Settings
) -> None:
    down = {**env, "COPYDESK_BROKER_URL": "amqp://guest:secret-pw@127.0.0.1:1//"}

    proc = copydesk(tmp_path, down, "submit", "turn_taking", "--topic", "Kites")

    line = assert_one_line_error(proc, 1)
    assert "127.0.0.1:1" in line
    assert "rabbitmq-server" in line
    assert "secret-pw" not in proc.stdout + proc.stderr
    worker = copydesk(tmp_path, down, "worker")
    assert "127.0.0.1:1" in assert_one_line_error(worker, 1)


def test_the_queue_needs_postgres_checkpoints(tmp_path: Path, home: Path) -> None:
    env = cli_env(home)

    for args in (["worker"], ["submit", "turn_taking", "--topic", "Kites"]):
        line = assert_one_line_error(copydesk(tmp_path, env, *args), 2)
        assert "COPYDESK_CHECKPOINT_URL=postgresql://" in line
    assert not home.exists(), "nothing is written"


def test_submit_rejects_bad_input_before_queueing(tmp_path: Path, env: dict[str, str]) -> None:
    assert "topic" in assert_one_line_error(copydesk(tmp_path, env, "submit", "turn_taking"), 2)
    assert "nope" in assert_one_line_error(
        copydesk(tmp_path, env, "submit", "nope", "--topic", "Kites"), 2
    )
    assert "unknown thread" in assert_one_line_error(
        copydesk(tmp_path, env, "resume", "missing", "--queue"), 2
    )
