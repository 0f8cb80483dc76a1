"""The error boundary of the `copydesk` command: a user's mistake is one line, also from the
console script itself and at DEBUG; a bug keeps its traceback; a long value is named by its
start and length, not echoed whole."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests._bad_input import CANARY, CLOSED, RUN, THREAD, Template

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._bad_input import app as app
from tests._bad_input import quiet_logging as quiet_logging
from tests._bad_input import template as template

# --- a fresh process: the console script itself ----------------------------------------------

ENTRY = "from copydesk.graphs.cli import main; main()"


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["run", "turn_taking", "--topic", "x"], {"OPENAI_BASE_URL": "http://127.0.0.1:/v1"}, 2),
        (["threads"], {"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"}, 1),
        (["run", "turn_taking", "--max-rounds", "abc"], {}, 2),
    ],
    ids=["setting", "storage-down", "bad-flag"],
)
def test_console_script_prints_one_line(
    args: list[str], env: dict[str, str], code: int, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COPYDESK_"))}
    clean |= {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1", **env}
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("copydesk: error: ")
    assert not home.exists()


def test_debug_log_level_adds_no_traceback(
    app: typer.Typer, tmp_path: Path, quiet_logging: None
) -> None:
    """Even at DEBUG (library logs on) the failure is its one line: a chained error could
    quote a secret the user gave (here the URL's password)."""
    env = {
        "COPYDESK_HOME": str(tmp_path / "home"),
        "COPYDESK_CHECKPOINT_URL": f"postgresql://u:{CANARY}@{CLOSED}/x",
        "COPYDESK_LOG_LEVEL": "DEBUG",
    }
    result = CliRunner().invoke(app, ["threads"], env=env)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1 and "postgresql://u:***@" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stderr + result.stdout


def test_a_bug_keeps_its_traceback(app: typer.Typer, tmp_path: Path) -> None:
    """Only user and environment failures become one line; anything else is a bug."""
    from copydesk.graphs.cli.boundary import explain

    assert explain(ZeroDivisionError("bug")) is None
    assert explain(KeyError("bug")) is None
    assert explain(OSError("socket trouble")) is None  # no path the user could fix


@pytest.mark.parametrize(
    "args",
    [
        (*RUN, "--thread-id"),
        ("fork", THREAD, "--checkpoint", "{checkpoint}", "--thread-id"),
        ("submit", "turn_taking", "--topic", "x", "--thread-id"),
    ],
    ids=["run", "fork", "submit"],
)
def test_a_long_thread_id_is_named_by_its_start_and_length(
    args: tuple[str, ...], app: typer.Typer, template: Template, tmp_path: Path, quiet_logging: None
) -> None:
    """A 5,000-character id is refused with the 128-character limit, its first 40
    characters and its length, not echoed whole."""
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
    given = [arg.replace("{checkpoint}", template.checkpoint) for arg in args]
    result = CliRunner().invoke(app, [*given, "b" * 5000], env=env)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == (
        f"copydesk: error: invalid thread id '{'b' * 40}...' (5000 characters); use 1 to 128 "
        "letters, digits, '.', '_' or '-', starting with a letter or digit"
    )
