"""Bad input, broken settings and damaged files, from a table: every case ends in one line on
stderr (`copydesk: error: ...`), the documented exit code (2 for bad input and damaged files,
1 for a storage server that cannot be reached), no traceback, and, unless the case says
otherwise, a COPYDESK_HOME left exactly as it was (file names, sizes and mtimes).

The commands run in process (`typer.testing.CliRunner` over the whole app, inside its error
boundary) on the offline model. The cases are in `tests/_bad_input_*.py`.
"""

from __future__ import annotations

import shutil
import traceback
from collections.abc import Mapping
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests._bad_input import CANARY, Case, Template, _damage, snapshot

# Fixtures, imported under their own names so that pytest finds them in this module.
from tests._bad_input import app as app
from tests._bad_input import assets as assets
from tests._bad_input import quiet_logging as quiet_logging
from tests._bad_input import template as template
from tests._bad_input_commands import COMMANDS
from tests._bad_input_damaged import DAMAGED, USAGE_FOLDER
from tests._bad_input_settings import SETTINGS

CASES = SETTINGS + COMMANDS + DAMAGED + USAGE_FOLDER


def _fill(text: str, places: Mapping[str, str]) -> str:
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line(
    case: Case,
    app: typer.Typer,
    template: Template,
    assets: Path,
    tmp_path: Path,
    quiet_logging: None,
) -> None:
    home = tmp_path / "home"
    if case.home != "none":
        shutil.copytree(template.home, home)
        _damage(home, case.home)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    places = {
        "home": str(home),
        "assets": str(assets),
        "cwd": str(tmp_path),
        "checkpoint": template.checkpoint,
    }
    env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
    env |= {name: _fill(value, places) for name, value in case.env.items()}
    args = [_fill(arg, places) for arg in case.args]
    watched = Path(env["COPYDESK_HOME"])
    before, assets_before = snapshot(watched), snapshot(assets)

    result = CliRunner().invoke(app, args, env=env)

    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"uncaught {type(result.exception).__name__}:\n{trace}\n{result.stderr}")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    shown = f"exit {result.exit_code}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert result.exit_code == case.code, shown
    assert len(lines) == 1, shown
    assert lines[0].startswith("copydesk: error: "), shown
    assert case.says.lower() in lines[0].lower(), shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert CANARY not in result.stderr + result.stdout, shown
    assert snapshot(watched) == before, f"COPYDESK_HOME changed\n{shown}"
    assert snapshot(assets) == assets_before


def test_the_table_is_broad() -> None:
    """At least 80 cases, over every command and many settings."""
    commands = {case.args[0] for case in CASES}
    settings = {name for case in CASES for name in case.env}
    assert len(CASES) >= 80
    assert {
        "run",
        "resume",
        "fork",
        "threads",
        "history",
        "export",
        "graphs",
        "memory",
        "prune",
        "prompts",
        "usage",
        "serve",
        "worker",
        "submit",
        "run-many",
    } <= commands
    assert len(settings) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
