"""End-to-end: a run that stops (the server fails, the process is killed) is saved, and
`copydesk resume` finishes it with every turn once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._cli import ENTRY, TIMEOUT, cli_env, copydesk, ok, ok_json, transcript, turns
from tests.fakes import FakeOpenAIServer, Fault
from tests.fakes.writing import ByRoundResponder, EditorialResponder

# --- the server fails, the thread is saved, resume finishes it -------------------------------


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


# --- SIGKILL mid-conversation, then resume ---------------------------------------------------


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
