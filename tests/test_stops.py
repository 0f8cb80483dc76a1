"""A run stopped at its next step: by `--timeout`, or by `copydesk stop` (in process and from
another process). The thread is saved, says `ended_by: timeout` / `stopped`, and resumes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.errors import ModelError
from copydesk.agents.settings import Settings
from copydesk.graphs.errors import EndingError, InputError, UnknownThreadError
from copydesk.graphs.events import RunResult, Turn
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.stopping import STALE_SECONDS, parse_timeout
from copydesk.memory.runs import open_run_table
from tests._cli import ENTRY, cli_env, copydesk, in_process_cli, ok_json, transcript
from tests.fakes import FakeOpenAIServer, Fault
from tests.fakes.writing import HeldEditor

LONG = "rounds>=6"  # an ending far off: only the stop or the timeout ends these runs


async def _stopped_after_first_turn(manager: ConversationManager, graph: str) -> RunResult:
    result: RunResult | None = None
    asked = False
    async for event in manager.stream(graph, topic="Ferry bells", thread_id="t", until=LONG):
        if isinstance(event, Turn) and not asked:
            answer = await manager.stop("t")
            assert answer.asked is not None and answer.asked.pid == os.getpid()
            asked = True
        if isinstance(event, RunResult):
            result = event
    assert result is not None
    return result


async def _saved_and_resumed(manager: ConversationManager, stopped: RunResult, how: str) -> None:
    assert (stopped.status, stopped.ended_by) == ("interrupted", how)
    assert stopped.next  # stopped between steps: the next one is due
    _, snapshot = await manager._latest("t")
    ids = sorted(str(m.id) for m in snapshot.values["messages"][1:])  # after the topic
    assert sorted(line["id"] for line in manager.transcript("t").lines()) == ids  # all saved
    [listed] = await manager.threads()
    assert (listed.status, listed.ended_by) == ("interrupted", how)
    header = (await manager.export_markdown("t")).splitlines()[2]
    assert f"status **interrupted** (ended by `{how}`)" in header

    done = await manager.resume("t")
    assert (done.status, done.ended_by, done.rounds) == ("out_of_rounds", LONG, 6)
    [listed] = await manager.threads()
    assert (listed.status, listed.ended_by) == ("out_of_rounds", LONG)
    # A finished thread has nothing to stop: said as such, not an error.
    answer = await manager.stop("t")
    assert answer.asked is None and "has already ended (out_of_rounds" in answer.message()


@pytest.mark.parametrize(
    "graph", ["turn_taking", "supervisor", "review_panel", "pipeline", "document"]
)
async def test_a_stop_ends_the_run_at_its_next_step(
    make_settings: Callable[..., Settings], graph: str
) -> None:
    async with ConversationManager(make_settings(max_rounds=6, memory=False)) as manager:
        stopped = await _stopped_after_first_turn(manager, graph)
        if graph == "document":  # the sections' own loops end it: resumed, it is assembled
            assert (stopped.status, stopped.ended_by) == ("interrupted", "stopped")
            assert (await manager.resume("t")).ended_by == "assembled"
            return
        await _saved_and_resumed(manager, stopped, "stopped")


@pytest.mark.parametrize("graph", ["debate", "round_robin"])
async def test_a_timeout_ends_the_run_at_its_next_step(
    make_settings: Callable[..., Settings], graph: str
) -> None:
    async with ConversationManager(make_settings(max_rounds=6, memory=False)) as manager:
        # A limit that has passed by the first step: the run stops there, whatever its speed.
        stopped = await manager.run(
            graph, topic="Ferry bells", thread_id="t", until=LONG, time_limit=1e-6
        )
        await _saved_and_resumed(manager, stopped, "timeout")


async def test_stops_go_through_each_checkpoint_store(
    make_conversation_settings: Callable[..., Settings],
) -> None:
    """What another process reads: the stopped row, in SQLite, PostgreSQL or memory."""
    settings = make_conversation_settings(max_rounds=6, memory=False)
    async with ConversationManager(settings) as manager:
        stopped = await _stopped_after_first_turn(manager, "turn_taking")
        assert stopped.ended_by == "stopped"
    if settings.resolved_checkpoint_url != "memory:":
        async with ConversationManager(settings) as other:  # as another process would
            assert (await other.result("t")).ended_by == "stopped"
            assert (await other.resume("t", time_limit=1e-6)).ended_by == "timeout"
            assert (await other.resume("t")).ended_by == LONG


async def test_what_cannot_be_stopped(
    make_settings: Callable[..., Settings], fake_server: FakeOpenAIServer
) -> None:
    async with ConversationManager(make_settings(memory=False)) as manager:
        with pytest.raises(UnknownThreadError):
            await manager.stop("nope")
        await manager.run("turn_taking", topic="Bells", thread_id="review", review=True)
        with pytest.raises(InputError, match="not running \\(waiting for review\\)"):
            await manager.stop("review")
    # A run whose model is down ends interrupted: not running, nothing to stop.
    down = make_settings(memory=False, openai_base_url=fake_server.base_url, max_retries=0)
    fake_server.always = Fault.status(500)
    async with ConversationManager(down) as manager:
        with pytest.raises(ModelError):
            await manager.run("turn_taking", topic="Bells", thread_id="down")
        with pytest.raises(InputError, match="is not running \\(interrupted"):
            await manager.stop("down")


async def test_a_run_whose_process_is_gone_is_not_running(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(memory=False)
    async with ConversationManager(settings) as manager:
        stopped = await manager.run("turn_taking", topic="Bells", thread_id="t", time_limit=1e-6)
    assert stopped.ended_by == "timeout"
    table = open_run_table(settings.resolved_checkpoint_url)
    await table.started("t", "elsewhere", 1)  # resumed by a process on another machine...
    async with ConversationManager(settings) as manager:
        assert (await manager.result("t")).ended_by == ""  # ...running: no longer stopped
        asked = (await manager.stop("t")).asked
        assert asked is not None and (asked.host, asked.pid) == ("elsewhere", 1)
        assert await table.beat(["t", "other"]) == {"t"}  # what that process would read
        stale = time.time() - STALE_SECONDS - 1
        await table._execute("UPDATE copydesk_runs SET seen_at = ?", (stale,))  # type: ignore[attr-defined]
        with pytest.raises(InputError, match="is not running \\(interrupted"):
            await manager.stop("t")  # ...and gone quiet since: not running any more


def test_timeout_values() -> None:
    assert [parse_timeout(t) for t in ("90s", "10m", "1.5h", " 2h ")] == [90, 600, 5400, 7200]
    for bad, problem in [("10", "not a duration"), ("0s", "out of range"), ("200h", "range")]:
        with pytest.raises(EndingError, match=problem):
            parse_timeout(bad)


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from in_process_cli(home, monkeypatch)


def test_stop_of_an_ended_thread_says_so(cli: Any) -> None:
    """Bad `stop`s are in the bad-input table; one that ended is told, not refused."""
    ran = cli("run", "turn_taking", "-t", "Bells", "--thread-id", "done", "--max-rounds", "1")
    assert ran.exit_code == 0, ran.output
    stopped = cli("stop", "done")
    assert stopped.exit_code == 0
    assert "thread 'done' has already ended (out_of_rounds, ended_by max_rounds)" in (
        stopped.output
    )
    answer = json.loads(cli("stop", "done", "--json").output)
    assert (answer["asked"], answer["result"]["status"]) == (False, "out_of_rounds")
    shown = cli("run", "turn_taking", "-t", "Bells", "--thread-id", "late", "--timeout", "2h",
                "--until", "rounds>=1")  # fmt: skip
    assert (
        "status: out_of_rounds · rounds: 1" in shown.output
    )  # a limit not reached changes nothing


@pytest.mark.slow
def test_stop_from_another_process(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    held = HeldEditor(decisions=("revise",))
    fake_server.responder = held
    fake_server.latency = 0.2  # a run of 40 rounds takes far longer than a stop takes to arrive
    env = cli_env(home, fake_server)
    child = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "turn_taking", "-t", "Ferry bells",
         "--thread-id", "bells", "--max-rounds", "40", "--json"],
        env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert held.asked.wait(timeout=90), "the run never reached the editor"
        asked = copydesk(tmp_path, env, "stop", "bells")
        assert asked.returncode == 0, asked.stderr
        assert f"(process {child.pid} on {socket.gethostname()})" in asked.stdout
        held.release.set()
        stdout, stderr = child.communicate(timeout=120)
    finally:
        held.release.set()
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, stderr
    result = json.loads(stdout)
    assert (result["status"], result["ended_by"]) == ("interrupted", "stopped")
    rounds = result["rounds"]
    assert 1 <= rounds < 40
    saved = transcript(home, "bells")
    assert saved[:2] == [saved[0], saved[1]] and saved[0]["agent"] == "writer"
    assert max(line["round"] for line in saved) == rounds  # every finished turn is saved
    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert (listed[0]["status"], listed[0]["ended_by"]) == ("interrupted", "stopped")
    exported = ok_json(copydesk(tmp_path, env, "export", "bells", "--format", "json"))
    assert exported["ended_by"] == "stopped" and exported["transcript"] == saved

    fake_server.latency = 0.0
    resumed = ok_json(copydesk(tmp_path, env, "resume", "bells", "--json"))
    assert (resumed["status"], resumed["ended_by"], resumed["rounds"]) == (
        "out_of_rounds",
        "max_rounds",
        40,
    )
    assert [line["id"] for line in transcript(home, "bells")][: len(saved)] == [
        line["id"] for line in saved
    ]


async def test_run_many_gives_each_conversation_its_timeout_and_endings(
    make_settings: Callable[..., Settings],
) -> None:
    from copydesk.graphs.cli.batch import run_batch

    settings = make_settings(max_rounds=6, memory=False)
    timed = await run_batch(settings, "debate", ["a", "b"], concurrency=2, time_limit=1e-6)
    assert [(r["status"], r["ended_by"]) for r in timed] == [("interrupted", "timeout")] * 2
    until = await run_batch(settings, "turn_taking", ["c"], concurrency=1, until="rounds>=2")
    assert (until[0]["status"], until[0]["ended_by"]) == ("out_of_rounds", "rounds>=2")
