"""End-to-end tests of the `copydesk` command, run as a real subprocess.

Each test runs the CLI in a child process with an explicit environment (no OPENAI_* or
COPYDESK_* leaking in from the shell), its home under tmp_path, and, for HTTP runs, the fake
OpenAI server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.errors import fingerprint
from tests.fakes import FakeOpenAIServer, Fault, Reply
from tests.fakes.writing import EditorialResponder, verdict_json

ENTRY = "from copydesk.graphs.cli import main; main()"
STRIPPED = ("OPENAI_", "COPYDESK_", "LANGCHAIN_", "LANGSMITH_")
TIMEOUT = 90
CANARY = "sk-canary-5f3e9a1b7c"
ROUND = re.compile(r"round (\d+) of \d+")
TOPIC = re.compile(r"^Topic:\s*(.+)$", re.MULTILINE)


# --- helpers --------------------------------------------------------------------------------


def cli_env(home: Path, server: FakeOpenAIServer | None = None, **extra: str) -> dict[str, str]:
    """The child's environment: the parent's minus every setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED)}
    env["COPYDESK_HOME"] = str(home)
    env["LANGSMITH_TRACING"] = "false"
    if server is not None:
        env["OPENAI_BASE_URL"] = server.base_url
        env["OPENAI_API_KEY"] = "sk-test"
    env.update(extra)
    return env


def copydesk(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `copydesk ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`proc`, after checking it succeeded (its output is in the assertion message)."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document a successful `--json` command printed."""
    return json.loads(ok(proc).stdout)


def transcript(home: Path, thread_id: str) -> list[dict[str, Any]]:
    path = home / "transcripts" / f"{thread_id}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def turns(lines: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(line["agent"], line["round"]) for line in lines]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a command that failed cleanly with exit `code`."""
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("copydesk: error:"), proc.stderr
    return lines[0]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@dataclass
class ByRoundResponder:
    """Fake-server responder that answers by the round named in the prompt.

    The writer's reply is `Round N draft on TOPIC.`; the editor revises before round
    `approve_at` and approves from it on. Unlike `EditorialResponder`, which counts requests,
    a request lost to a killed client does not shift what later rounds get.
    """

    approve_at: int

    def __call__(self, body: dict[str, Any]) -> Reply:
        last = str((body.get("messages") or [{}])[-1].get("content", ""))
        found, topic = ROUND.search(last), TOPIC.search(last)
        assert found is not None and topic is not None, last
        round_ = int(found.group(1))
        if "response_format" not in body and "tools" not in body:
            return Reply(content=f"Round {round_} draft on {topic.group(1).strip()}.")
        decision = "approve" if round_ >= self.approve_at else "revise"
        return Reply(content=verdict_json(decision, round_))


# --- 1. a run through the fake server -------------------------------------------------------


def test_run_json_through_fake_server(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    env = cli_env(home, fake_server)

    result = ok_json(
        copydesk(
            tmp_path, env, "run", "turn_taking", "--topic", "Tide pools",
            "--model", "fake-model-7", "--thread-id", "tide", "--json",
        )
    )  # fmt: skip

    assert result["thread_id"] == "tide"
    assert result["status"] == "approved"
    assert result["rounds"] == 2
    assert result["final_draft"] == "Draft 2 on Tide pools."
    assert result["verdict"]["decision"] == "approve"
    assert result["verdict"]["issues"] == []
    assert result["model"] == "fake-model-7"
    assert result["usage"]["total"]["calls"] == 4
    assert result["usage"]["writer"]["calls"] == result["usage"]["editor"]["calls"] == 2

    chats = fake_server.chat_requests()
    assert len(chats) == 4
    bodies = [c.body or {} for c in chats]
    assert ["response_format" in b for b in bodies] == [False, True, False, True]
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies[1::2])
    assert all("tools" not in b for b in bodies)
    assert {b["model"] for b in bodies} == {"fake-model-7"}
    assert {c.headers.get("authorization") for c in chats} == {"Bearer sk-test"}


# --- 2. offline, and the commands that inspect a finished thread ----------------------------


def test_offline_run_then_inspect_the_thread(tmp_path: Path, home: Path) -> None:
    env = cli_env(home)  # no key and no base URL: the offline model writes

    plain = ok(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Lighthouse keepers"))
    assert "lighthouse keepers" in plain.stdout.lower()
    assert "status: approved" in plain.stdout
    offline_lines = [line for line in plain.stderr.splitlines() if "offline" in line]
    assert len(offline_lines) == 1, plain.stderr

    result = ok_json(
        copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Beekeeping", "--json",
                 "--thread-id", "bees")
    )  # fmt: skip
    assert result["status"] == "approved"
    assert result["thread_id"] == "bees"
    assert result["model"] == "copydesk-offline"
    assert "beekeeping" in result["final_draft"].lower()
    rounds = result["rounds"]
    assert rounds >= 1

    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    by_id = {row["thread_id"]: row for row in listed}
    assert len(by_id) == 2
    assert by_id["bees"]["topic"] == "Beekeeping"
    assert by_id["bees"]["status"] == "approved"
    assert by_id["bees"]["rounds"] == rounds
    assert by_id["bees"]["graph"] == "turn_taking"

    history = ok_json(copydesk(tmp_path, env, "history", "bees", "--json"))
    assert isinstance(history, list)
    assert len(history) >= 2 * rounds
    ids = [row["checkpoint_id"] for row in history]
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, str) and i for i in ids)
    assert history[0]["round"] == rounds  # newest first
    assert history[-1]["round"] == 0
    assert history[0]["next"] == []

    markdown = ok(copydesk(tmp_path, env, "export", "bees")).stdout
    assert markdown.startswith("# Beekeeping")
    assert "## Final draft" in markdown
    assert "### Round 1 (writer)" in markdown
    assert result["final_draft"] in markdown

    lines = transcript(home, "bees")
    expected = [(agent, r) for r in range(1, rounds + 1) for agent in ("writer", "editor")]
    assert turns(lines) == expected  # one line per message; the user's topic is not one
    assert [line["id"] for line in lines] == [f"bees:{r}:{a}" for a, r in expected]
    assert all(line["text"] and line["usage"]["calls"] == 1 for line in lines)
    assert lines[-2]["text"] == result["final_draft"]


# --- 3. bad input: one error line, exit 2, nothing written ----------------------------------

BAD_INPUT = {
    "unknown_graph": (["run", "sonnet_circle", "--topic", "x"], {}, "known graphs: turn_taking"),
    "empty_topic": (["run", "turn_taking", "--topic", "   "], {}, "topic is empty"),
    "no_topic": (["run", "turn_taking"], {}, "topic is empty"),
    "zero_rounds": (["run", "turn_taking", "--topic", "x", "--max-rounds", "0"], {}, "max"),
    "negative_rounds": (["run", "turn_taking", "--topic", "x", "--max-rounds", "-1"], {}, "max"),
    "bad_thread_id": (
        ["run", "turn_taking", "--topic", "x", "--thread-id", "../escape"],
        {},
        "invalid thread id",
    ),
    "resume_unknown": (["resume", "unknown-thread"], {}, "unknown thread 'unknown-thread'"),
    "history_unknown": (["history", "unknown-thread"], {}, "unknown thread 'unknown-thread'"),
    "export_unknown": (["export", "unknown-thread"], {}, "unknown thread 'unknown-thread'"),
    "unreadable_config": (["run", "turn_taking", "--topic", "x"], {}, "copydesk.toml"),
    "invalid_env_value": (
        ["run", "turn_taking", "--topic", "x"],
        {"COPYDESK_REQUEST_TIMEOUT": "abc"},
        "COPYDESK_REQUEST_TIMEOUT='abc' (from the environment)",
    ),
}


Ran = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Every BAD_INPUT case run at once (each in its own directory), to save start-up time."""
    started: dict[str, tuple[subprocess.Popen[str], list[str], Path]] = {}
    try:
        for case, (args, extra, _) in BAD_INPUT.items():
            cwd = tmp_path_factory.mktemp(case)
            if case == "unreadable_config":
                (cwd / "copydesk.toml").write_text('model = "unterminated\n', encoding="utf-8")
            home = cwd / "home"
            child = subprocess.Popen(
                [sys.executable, "-c", ENTRY, *args],
                env=cli_env(home, **extra), cwd=cwd, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            started[case] = (child, args, home)
        done: dict[str, Ran] = {}
        for case, (child, args, home) in started.items():
            stdout, stderr = child.communicate(timeout=TIMEOUT)
            done[case] = (subprocess.CompletedProcess(args, child.returncode, stdout, stderr), home)
        return done
    finally:
        for child, _, _ in started.values():
            if child.poll() is None:
                child.kill()
                child.communicate()


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_cleanly_and_writes_nothing(
    bad_input_runs: dict[str, Ran], case: str
) -> None:
    expected = BAD_INPUT[case][2]
    proc, home = bad_input_runs[case]

    line = assert_one_line_error(proc, 2)
    assert expected in line
    assert proc.stdout == ""
    assert not home.exists()


# --- 4. out of rounds is a normal ending ----------------------------------------------------


def test_out_of_rounds_is_a_normal_ending(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise",))
    env = cli_env(home, fake_server)

    proc = copydesk(
        tmp_path, env, "run", "turn_taking", "--topic", "Fog", "--max-rounds", "1", "--json"
    )

    result = ok_json(proc)
    assert result["status"] == "out_of_rounds"
    assert result["rounds"] == 1
    assert result["verdict"]["decision"] == "revise"
    assert result["verdict"]["issues"], "an unapproved draft has open issues"
    assert "GraphRecursionError" not in proc.stderr
    assert len(fake_server.chat_requests()) == 2


# --- 5. the server fails, the thread is saved, resume finishes it ---------------------------


def test_server_failure_then_resume(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    fake_server.always = Fault.status(500)
    env = cli_env(home, fake_server, COPYDESK_MAX_RETRIES="1")

    failed = copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Rain", "--thread-id", "rain")

    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1, failed.stderr
    assert fake_server.base_url in errors[0]
    assert "resume" in errors[0]
    assert len(fake_server.chat_requests()) == 2  # the first attempt and one retry

    fake_server.always = None
    result = ok_json(copydesk(tmp_path, env, "resume", "rain", "--json"))

    assert result["status"] == "approved"
    assert result["rounds"] == 2
    assert result["thread_id"] == "rain"
    lines = transcript(home, "rain")
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids))
    assert turns(lines) == [("writer", 1), ("editor", 1), ("writer", 2), ("editor", 2)]


# --- 6. SIGKILL mid-conversation, then resume -----------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_conversation_then_resume(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.latency = 0.3
    fake_server.responder = ByRoundResponder(approve_at=3)
    env = cli_env(home, fake_server)
    path = home / "transcripts" / "K.jsonl"

    child = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "turn_taking", "--topic", "Kites",
         "--max-rounds", "5", "--thread-id", "K"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while child.poll() is None and time.monotonic() < deadline:
            written = path.read_text(encoding="utf-8").count("\n") if path.exists() else 0
            if written >= 2:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the run ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    killed_at = len(fake_server.chat_requests())
    assert killed_at < 6, "the killed run must not have finished every turn"

    result = ok_json(copydesk(tmp_path, env, "resume", "K", "--json"))

    assert result["status"] == "approved"
    assert result["rounds"] == 3
    lines = transcript(home, "K")
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids))
    assert sorted(turns(lines)) == sorted((a, r) for r in (1, 2, 3) for a in ("writer", "editor"))
    writer_3 = next(line for line in lines if (line["agent"], line["round"]) == ("writer", 3))
    assert result["final_draft"] == writer_3["text"] == "Round 3 draft on Kites."
    markdown = ok(copydesk(tmp_path, env, "export", "K")).stdout
    assert [int(n) for n in re.findall(r"### Round (\d+)", markdown)] == [1, 2, 3]


# --- 7. the API key never leaks -------------------------------------------------------------


def test_api_key_never_written_or_printed(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    env = cli_env(home, fake_server, OPENAI_API_KEY=CANARY, COPYDESK_LOG_LEVEL="DEBUG")

    outputs = []
    for extra in ([], ["--json"]):
        proc = ok(
            copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Salt", *extra,
                     "--thread-id", f"salt{len(outputs)}")
        )  # fmt: skip
        outputs.append(proc.stdout + proc.stderr)
    assert "DEBUG" in outputs[0], "DEBUG logging was on, so the run logged something"
    exported = ok(copydesk(tmp_path, env, "export", "salt0", "--format", "json"))
    outputs.append(exported.stdout + exported.stderr)

    # The key was really used, so its absence below means something.
    assert {c.headers.get("authorization") for c in fake_server.chat_requests()} == {
        f"Bearer {CANARY}"
    }
    for text in outputs:
        assert CANARY not in text
    stored = files_under(home)
    assert any(p.name.endswith(".jsonl") for p in stored)
    for path in stored:
        assert CANARY.encode() not in path.read_bytes(), path


def test_rejected_key_is_named_by_fingerprint(tmp_path: Path, home: Path) -> None:
    with FakeOpenAIServer(api_key="sk-other") as server:
        env = cli_env(home, server, OPENAI_API_KEY=CANARY, COPYDESK_LOG_LEVEL="DEBUG")
        proc = copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Salt")

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1, proc.stderr
    assert fingerprint(CANARY) in errors[0]
    assert fingerprint(CANARY).startswith("key#")
    assert CANARY not in proc.stdout + proc.stderr
    for path in files_under(home):
        assert CANARY.encode() not in path.read_bytes(), path


# --- 8. listing and help --------------------------------------------------------------------


def test_graphs_lists_turn_taking(tmp_path: Path, home: Path) -> None:
    env = cli_env(home)
    plain = ok(copydesk(tmp_path, env, "graphs"))
    assert re.search(r"^turn_taking\s+3 nodes\s+Writer drafts, editor approves", plain.stdout, re.M)

    rows = ok_json(copydesk(tmp_path, env, "graphs", "--json"))
    assert {"name": "turn_taking", "nodes": 3, "description": rows[0]["description"]} in rows
    assert rows[0]["description"].startswith("Writer drafts")
    assert not home.exists()


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=["top", "run"])
def test_help(tmp_path: Path, home: Path, args: list[str]) -> None:
    proc = ok(copydesk(tmp_path, cli_env(home), *args))
    assert "Usage" in proc.stdout
    if args[0] == "run":
        assert "--topic" in proc.stdout and "--max-rounds" in proc.stdout
    else:
        assert all(cmd in proc.stdout for cmd in ("run", "resume", "threads", "history"))
    assert not home.exists()
