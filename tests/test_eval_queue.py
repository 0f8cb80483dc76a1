"""`copydesk eval SUITE --queue`: the runs go to real `copydesk worker` processes through
RabbitMQ, come back through the PostgreSQL checkpoints they share, and score exactly as the
same suite run locally against the same scripted server; a run failing on a worker ends the
eval with one line; a home whose checkpoints a worker cannot share is refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._cli import copydesk, in_process_cli, ok_json

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._queue import broker_url as broker_url
from tests._queue import env as env
from tests._queue import queue as queue
from tests._queue import workers as workers
from tests.fakes import FakeOpenAIServer
from tests.fakes._replies import Reply
from tests.fakes.topologies import JudgingResponder
from tests.fakes.workers import WorkerProcess
from tests.fakes.writing import ByRoundResponder
from tests.test_eval import SUITE, without_ids, write_suite


def by_round_and_judged(body: dict[str, Any]) -> Reply:
    """Replies that depend only on the request (the round it names), however the runs of
    two evals interleave; the judge's scores depend only on the draft."""
    if '"RubricScores"' in json.dumps(body):
        return JudgingResponder()(body)
    return ByRoundResponder(approve_at=2)(body)


def writer_2_calls(server: FakeOpenAIServer) -> int:
    return sum(r.body.get("model") == "writer-2" for r in server.chat_requests())


@pytest.mark.slow
def test_an_eval_on_the_workers_scores_as_the_same_eval_run_here(
    tmp_path: Path,
    env: dict[str, str],
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.responder = by_round_and_judged
    text = SUITE.replace("repeats = 2", "repeats = 1")
    text = text.replace('["editor@v2"]', '["editor@v2"]\nmodel = "writer-2"')
    suite = write_suite(tmp_path, text)
    worker = workers(concurrency=4)

    here = ok_json(copydesk(tmp_path, env, "eval", str(suite), "--json"))
    local_calls = writer_2_calls(fake_server)
    queued = ok_json(copydesk(tmp_path, env, "eval", str(suite), "--json", "--queue"))

    assert without_ids(queued) == without_ids(here)  # scores, judge, tokens, drafts: all
    assert queued["id"] != here["id"]
    assert local_calls > 0 and writer_2_calls(fake_server) == 2 * local_calls  # v2's model
    runs = queued["runs"]
    assert len(runs) == 4 and {r["status"] for r in runs} <= {"approved", "out_of_rounds"}
    assert all(r["scores"]["readability"] is not None for r in runs)
    assert queued["variants"]["v1"]["judge"]["mean"] is not None
    ran = worker.text()
    assert all(r["thread_id"] in ran for r in runs), ran  # the worker ran each one
    assert not any(r["thread_id"] in ran for r in here["runs"])  # and none of the local ones
    table = copydesk(tmp_path, env | {"COLUMNS": "200"}, "eval", str(suite), "--queue")
    assert table.returncode == 0, table.stderr
    assert "regression_rate" in table.stdout and "winner" in table.stdout
    assert "runs on the workers" in table.stderr and "4/4" in table.stderr  # the progress


@pytest.mark.slow
def test_a_run_that_fails_on_a_worker_ends_the_eval_in_one_line(
    tmp_path: Path,
    env: dict[str, str],
    fake_server: FakeOpenAIServer,
    workers: Callable[..., WorkerProcess],
) -> None:
    fake_server.api_key = "a-key-nobody-has"  # every call refused: each run fails for good
    suite = write_suite(tmp_path, SUITE.replace("repeats = 2", "repeats = 1"))
    workers()

    ran = copydesk(tmp_path, env, "eval", str(suite), "--json", "--queue")

    assert ran.returncode == 1, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert lines[-1].startswith("copydesk: error: 4 of 4 runs failed on the workers"), lines
    assert "Traceback" not in ran.stderr and ran.stdout == ""


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from in_process_cli(home, monkeypatch)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ([], "the queue needs checkpoints every worker can reach"),
        (["--local"], "--local does not go with --queue"),
        (["--replay", "c.json"], "--replay and --record-missing do not go with --queue"),
    ],
    ids=["unshared-checkpoints", "local", "replay"],
)
def test_an_eval_the_workers_cannot_share_is_refused_in_one_line(
    cli: Any,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    said: str,
) -> None:
    monkeypatch.setenv("COPYDESK_CHECKPOINT_URL", "memory:")
    result = cli("eval", str(write_suite(tmp_path)), "--queue", *flags)

    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("copydesk: error:"), result.stderr
    assert said in lines[0]
    assert not home.exists()


def test_a_queued_run_asks_for_its_variant_model_and_no_memory_store(
    make_settings: Callable[..., Any],
) -> None:
    from copydesk.graphs.eval_queue import request_of
    from copydesk.graphs.eval_suite import Case, Suite, Variant

    settings = make_settings()
    case = Case(topic="Kites")
    variant = Variant(name="small", graph="turn_taking", prompts=("editor@v2",), model="m-2")
    suite = Suite(name="s", path=Path("s.toml"), cases=(case,), variants=(variant,))

    request = request_of(suite, settings, case, variant)

    assert json.loads(json.dumps(request)) == request  # it travels in the job table
    assert request["model"] == "m-2" and request["memory"] is False
    assert request["prompts"] == {"editor": "editor@v2"} and request["inputs"] == {}
