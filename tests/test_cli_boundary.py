"""The error boundary: the one line and exit code each kind of failure ends a command with.

`explain` maps what a user or their machine caused to `copydesk: error: <what>: <problem>;
<fix>`; what it does not know is a bug and keeps its traceback. The file errors are built
here because some cannot be caused for real in a test running as root (a read-only file, a
full disk); the others are also run through the command.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from copydesk.graphs.cli.app import build
from copydesk.graphs.cli.boundary import explain
from copydesk.prompts.errors import PromptError
from tests._cli import write_dividing_graph

FOLDER_FIX = "a file stands where a folder is needed; check COPYDESK_HOME and the paths given"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/srv/topics.txt"),
            "/srv/topics.txt: No such file or directory; check the path (and that its folder "
            "exists)",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "/srv"),
            "/srv: Is a directory; name a file, not a folder",
        ),
        (
            NotADirectoryError(errno.ENOTDIR, "Not a directory", "/srv/file/home"),
            f"/srv/file/home: Not a directory; {FOLDER_FIX}",
        ),
        (
            FileExistsError(errno.EEXIST, "File exists", "/srv/home"),
            f"/srv/home: File exists; {FOLDER_FIX}",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/out.md"),
            "/srv/out.md: Permission denied; pick a place you can write (COPYDESK_HOME, -o) or "
            "free some space",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", b"/mnt/ro/out.md"),
            "/mnt/ro/out.md: Read-only file system; pick a place you can write (COPYDESK_HOME, "
            "-o) or free some space",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/srv/home/checkpoints.sqlite"),
            "/srv/home/checkpoints.sqlite: No space left on device; pick a place you can write "
            "(COPYDESK_HOME, -o) or free some space",
        ),
        (
            OSError(errno.EIO, "Input/output error", "/srv/home"),
            "/srv/home: Input/output error; check the path",
        ),
    ],
    ids=["missing", "folder", "not-folder", "exists", "denied", "read-only", "full", "io"],
)
def test_a_path_that_cannot_be_used_is_named_with_its_fix(error: OSError, line: str) -> None:
    failure = explain(error)

    assert failure is not None
    assert (failure.line, failure.exit_code) == (f"copydesk: error: {line}", 2)


def test_a_group_of_one_error_is_that_error() -> None:
    inner = FileNotFoundError(errno.ENOENT, "No such file or directory", "/srv/x")

    assert explain(ExceptionGroup("run", [inner])) == explain(inner)
    assert explain(ExceptionGroup("run", [inner, ValueError("bug")])) is None


def test_prompt_database_and_server_failures() -> None:
    prompt = explain(PromptError("prompt editor@v9 does not exist; see `copydesk prompts list`"))
    damaged = explain(sqlite3.DatabaseError("file is not a database"))
    locked = explain(sqlite3.OperationalError("database is locked"))
    down = explain(psycopg.OperationalError("connection refused\n\tIs the server running?"))

    assert prompt is not None and prompt.exit_code == 2
    assert prompt.line == (
        "copydesk: error: prompt editor@v9 does not exist; see `copydesk prompts list`"
    )
    assert damaged is not None and damaged.exit_code == 2
    assert damaged.line.startswith(
        "copydesk: error: a SQLite database under COPYDESK_HOME is damaged (file is not a "
        "database); restore it from a backup or move it aside"
    )
    assert locked is None  # busy, not damaged: not something to move aside
    assert down is not None and down.exit_code == 1
    assert down.line.startswith(
        "copydesk: error: PostgreSQL is unreachable (connection refused Is the server running?)"
    )


def test_a_group_without_a_command_prints_its_help() -> None:
    result = CliRunner().invoke(build(), ["prompts"])

    assert result.exit_code == 2
    assert result.output.startswith("Usage: ") and "Commands:" in result.output


def test_a_bug_in_a_graph_file_keeps_its_traceback(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node of the user's own graph that fails is a bug in that code: not folded into a
    line, so its traceback shows where."""
    monkeypatch.setenv("COPYDESK_HOME", str(home))
    mine = write_dividing_graph(tmp_path / "divide.py")

    result = CliRunner().invoke(build(), ["run", str(mine), "-t", "Zero"])

    assert result.exit_code == 1
    assert isinstance(result.exception, ZeroDivisionError)
    assert "copydesk: error:" not in result.output
