"""Continuing threads at their edges (offline, in-process): `run --thread-id` on a thread that
waits for review, a paused thread whose prompt version has since been deleted, and a fork
from a thread's final checkpoint (nothing left to run: the fork is its result)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from copydesk.graphs.cli.app import build
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR


@pytest.fixture
def cli(home: Path) -> Iterator[Callable[..., Any]]:
    """`copydesk ARGS` in this process, offline, home under tmp_path (`env=` adds settings)."""
    app, runner = build(), CliRunner()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def invoke(*args: str, **env: str) -> Any:
        result = runner.invoke(app, list(args), env={"COPYDESK_HOME": str(home), **env})
        assert "Traceback" not in result.output, result.output
        return result

    yield invoke
    root.handlers, root.level = handlers, level


def _one_line(result: Any) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def test_a_thread_waiting_for_review_is_not_run_again(cli: Callable[..., Any]) -> None:
    waiting = cli("run", "turn_taking", "-t", "Lock gates", "--thread-id", "gates", "--review")
    assert waiting.exit_code == 0, waiting.output

    line = _one_line(cli("run", "turn_taking", "--thread-id", "gates"))

    assert line == (
        "copydesk: error: thread 'gates' has not finished (waiting_for_review); finish it "
        "first with `copydesk resume gates --approve or --feedback` or pick another --thread-id"
    )


def test_a_paused_thread_whose_prompt_was_deleted(cli: Callable[..., Any], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, prompts, ignore=shutil.ignore_patterns("*.py", "__py*"))
    shutil.copy(prompts / "editor" / "v1.toml", prompts / "editor" / "v4.toml")
    mine = {"COPYDESK_PROMPTS_DIR": str(prompts)}
    paused = cli("run", "turn_taking", "-t", "Sluices", "--thread-id", "sluices", "--review",
                 "--prompt", "editor@v4", **mine)  # fmt: skip
    assert paused.exit_code == 0, paused.output
    (prompts / "editor" / "v4.toml").unlink()

    line = _one_line(cli("resume", "sluices", "--approve", **mine))

    assert line.startswith("copydesk: error: thread 'sluices' used a prompt that is gone: ")
    assert "editor" in line and "v4" in line


def test_a_fork_from_the_final_checkpoint_is_its_result(cli: Callable[..., Any]) -> None:
    done = json.loads(cli("run", "turn_taking", "-t", "Weirs", "--thread-id", "weirs",
                          "--json").stdout)  # fmt: skip
    [latest, *_] = json.loads(cli("history", "weirs", "--json").stdout)

    forked = cli("fork", "weirs", "--checkpoint", latest["checkpoint_id"], "--thread-id",
                 "weirs-again", "--json")  # fmt: skip

    assert forked.exit_code == 0, forked.output
    result = json.loads(forked.stdout)
    assert result["thread_id"] == "weirs-again"
    assert (result["status"], result["final_draft"]) == (done["status"], done["final_draft"])
