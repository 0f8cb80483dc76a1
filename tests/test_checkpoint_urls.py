"""Checkpoint stores at their edges, through the command: a PostgreSQL URL libpq cannot
parse, a SQLite file that is empty (fine), whose pages are garbage behind a good header, or
whose name is too long; and passwords hidden from every line."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from copydesk.graphs.cli.app import build
from copydesk.memory.checkpoint import safe_url


@pytest.fixture
def cli(home: Path) -> Iterator[Callable[..., Any]]:
    """`copydesk ARGS` in this process with `COPYDESK_CHECKPOINT_URL` given, offline."""
    app, runner = build(), CliRunner()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def invoke(url: str, *args: str) -> Any:
        env = {"COPYDESK_HOME": str(home), "COPYDESK_CHECKPOINT_URL": url}
        result = runner.invoke(app, list(args), env=env)
        assert "Traceback" not in result.output, result.output
        return result

    yield invoke
    root.handlers, root.level = handlers, level


def _one_line(result: Any, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("copydesk: error: "), result.stderr
    return str(lines[0])


def test_a_postgresql_url_libpq_cannot_parse(cli: Callable[..., Any]) -> None:
    url = "postgresql://writer:s3cret@127.0.0.1:5432/desk?bogus_option=1"

    line = _one_line(cli(url, "threads"), 2)

    assert line == (
        "copydesk: error: checkpoint URL postgresql://writer:***@127.0.0.1:5432/desk?"
        "bogus_option=1 is not valid; use postgresql://user@host:port/database"
    )


def test_an_unparsable_url_is_never_shown() -> None:
    assert safe_url("postgresql://writer:s3cret@[::1/desk") == "<unparsable URL>"
    assert safe_url("postgresql://writer@db/desk") == "postgresql://writer@db/desk"


def test_an_empty_sqlite_file_is_a_new_database(cli: Callable[..., Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()

    done = cli(f"sqlite:///{empty}", "run", "turn_taking", "-t", "Dunes", "--thread-id", "dunes")

    assert done.exit_code == 0, done.output
    assert cli(f"sqlite:///{empty}", "threads").stdout.split()[:3] == [
        "dunes",
        "turn_taking",
        "approved",
    ]


def test_garbage_behind_a_good_header_is_damaged(cli: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.executemany("INSERT INTO notes VALUES (?)", [("x" * 500,)] * 50)
    db.close()
    data = bytearray(path.read_bytes())
    data[100:] = b"\xa5" * (len(data) - 100)  # the header stays, the pages do not
    path.write_bytes(bytes(data))

    for args in (("run", "turn_taking", "-t", "Dunes"), ("threads",)):
        line = _one_line(cli(f"sqlite:///{path}", *args), 2)

        assert f"checkpoint database {path} is damaged (" in line
        assert f"mv {path} {path}.damaged" in line


def test_a_sqlite_file_of_something_else_has_no_threads(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "notes.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()

    listed = cli(f"sqlite:///{path}", "threads")

    assert listed.exit_code == 0 and listed.stdout.startswith("no threads yet")


def test_a_file_name_too_long_is_one_line(cli: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / ("c" * 300 + ".sqlite")

    line = _one_line(cli(f"sqlite:///{path}", "run", "turn_taking", "-t", "Dunes"), 2)

    assert "File name too long" in line
