"""End-to-end bad input to the `copydesk` command: one error line, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._cli import ENTRY, TIMEOUT, assert_one_line_error, cli_env

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
