"""A `.env` in the working directory that is not UTF-8 text stops every command with one line
naming it and the fix, before anything is written."""

from __future__ import annotations

import logging
from pathlib import Path

from typer.testing import CliRunner

from copydesk.graphs.cli.app import build


def test_a_dotenv_that_is_not_utf8_is_one_line(tmp_path: Path, home: Path) -> None:
    (tmp_path / ".env").write_bytes(b"OPENAI_API_KEY=\xff\xfe\n")  # the cwd of every test
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    done = CliRunner().invoke(
        build(), ["run", "turn_taking", "-t", "Kelp"], env={"COPYDESK_HOME": str(home)}
    )
    root.handlers, root.level = handlers, level

    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("copydesk: error: cannot read .env: 'utf-8' codec can't decode")
    assert lines[0].endswith("; fix or remove it")
    assert not home.exists()
