"""A home in a bad state, beyond the table: damaged usage lines are skipped with one warning,
a read-only home is one line, and the review pages name a damaged store."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from copydesk.agents.config import ConfigManager
from tests._bad_input import Template, _damage, snapshot

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._bad_input import app as app
from tests._bad_input import quiet_logging as quiet_logging
from tests._bad_input import template as template


def test_damaged_usage_lines_are_left_out_with_one_warning(
    app: typer.Typer, template: Template, tmp_path: Path, quiet_logging: None
) -> None:
    """`copydesk usage` over a log with binary bytes, a JSON list and wrong-typed calls adds
    up the good lines and names the file and how many it skipped, in one warning."""
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    log = home / "usage.jsonl"
    env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
    clean = CliRunner().invoke(app, ["usage", "--json"], env=env)
    assert clean.exit_code == 0 and not clean.stderr.strip(), clean.stderr
    with log.open("ab") as file:
        file.write(bytes(range(128, 256)) + b"\n")
        file.write(b"[1, 2]\n")
        file.write(b'{"thread_id": "t1", "agent": "writer", "prompt_tokens": "lots"}\n')
        file.write(b'{"thread_id": ["t1"], "agent": "writer"}\n')
        file.write(b'{"thread_id": "t1", "agent": "writer", "cost_usd": true}\n')
    before = snapshot(home)

    result = CliRunner().invoke(app, ["usage", "--json"], env=env)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(clean.stdout)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"skipped 5 damaged lines of {log}" in lines[0], result.stderr
    assert snapshot(home) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_home_is_one_line(
    app: typer.Typer, template: Template, tmp_path: Path, quiet_logging: None
) -> None:
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    before = snapshot(home)
    home.chmod(0o555)
    try:
        env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
        result = CliRunner().invoke(app, ["run", "turn_taking", "--topic", "Trees"], env=env)
    finally:
        home.chmod(0o755)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "read-only" in result.stderr
    assert snapshot(home) == before


async def test_review_pages_name_a_damaged_store(template: Template, tmp_path: Path) -> None:
    """The pages of `copydesk serve` say what the command line says: which database is
    damaged and what to do (500), with no traceback in the page."""
    import httpx

    from copydesk.graphs.web import create_app

    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    _damage(home, "unknown-type")
    before = snapshot(home)
    flags = {"home": home, "offline": True, "local_embedder": "lexical"}
    nowhere = tmp_path / "nowhere"
    settings = ConfigManager(flags=flags, env_file=nowhere, config_file=nowhere).settings
    app = create_app(settings, token="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        page = await http.get("/desk/")
        await app.state.runtime.aclose()
    assert page.status_code == 500
    assert "checkpoints.sqlite is damaged" in page.text and "Traceback" not in page.text
    assert snapshot(home) == before
