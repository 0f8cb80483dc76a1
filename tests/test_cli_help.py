"""End-to-end: `copydesk graphs` lists the topologies and `--help` shows the commands, with
nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests._cli import cli_env, copydesk, ok, ok_json


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
