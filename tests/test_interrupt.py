"""Ctrl-C during a run: the command says the thread is saved and how to continue, exits 130,
and `copydesk resume` finishes the thread."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests._cli import ENTRY, cli_env, copydesk, ok_json
from tests.fakes import FakeOpenAIServer
from tests.fakes.writing import EditorialResponder, HeldEditor

pytestmark = pytest.mark.slow


def _interruptible() -> None:
    """In the child: SIGINT as a terminal sends it. A shell that starts a job in the
    background without job control (`nohup make test &`) has it ignored, and a process
    inherits an ignored signal: Python would then never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_the_thread_and_says_how_to_continue(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    held = HeldEditor()
    fake_server.responder = held
    env = cli_env(home, fake_server, COPYDESK_MAX_RETRIES="0")
    child = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "turn_taking", "-t", "Ferry bells",
         "--thread-id", "bells"],
        env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=_interruptible,
    )  # fmt: skip
    try:
        assert held.asked.wait(timeout=90), "the run never reached the editor"
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        held.release.set()
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "copydesk: interrupted; the thread is saved, continue it with `copydesk resume`"
    )
    assert "Traceback" not in stderr

    fake_server.responder = EditorialResponder(decisions=("approve",))
    resumed = ok_json(copydesk(tmp_path, cli_env(home, fake_server), "resume", "bells", "--json"))
    assert (resumed["thread_id"], resumed["status"]) == ("bells", "approved")
