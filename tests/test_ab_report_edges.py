"""The A/B report after the experiment changed: threads recorded under variants that are no
longer declared are named in a note, and a thread paused inside a subgraph counts once."""

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
def cli(home: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`copydesk ARGS` in this process, offline, on a copy of the shipped prompts."""
    prompts = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, prompts, ignore=shutil.ignore_patterns("*.py", "__py*"))
    env = {"COPYDESK_HOME": str(home), "COPYDESK_PROMPTS_DIR": str(prompts)}
    app, runner = build(), CliRunner()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def invoke(*args: str) -> Any:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        return result

    yield invoke
    root.handlers, root.level = handlers, level


def test_variants_no_longer_declared_are_named(cli: Callable[..., Any], tmp_path: Path) -> None:
    for thread in ("a1", "a2", "a3"):
        cli("run", "turn_taking", "-t", f"Canal {thread}", "--thread-id", thread,
            "--experiment", "editor-rubric")  # fmt: skip
    cli("run", "pipeline", "-t", "Canal p", "--thread-id", "p1", "--review",
        "--experiment", "editor-rubric")  # fmt: skip
    recorded = {
        json.loads(cli("history", t, "--json").stdout)[0]["experiment"]["variant"]
        for t in ("a1", "a2", "a3", "p1")
    }
    experiments = tmp_path / "prompts" / "experiments.toml"
    text = experiments.read_text(encoding="utf-8")
    experiments.write_text(
        text.replace(
            'name = "control", version = "v1"', 'name = "baseline", version = "v1"'
        ).replace('name = "rubric", version = "v2"', 'name = "strict", version = "v2"'),
        encoding="utf-8",
    )

    report = json.loads(cli("prompts", "ab-report", "editor-rubric", "--json").stdout)

    by_name = {v["variant"]: v for v in report["variants"]}
    assert by_name["baseline"]["threads"] == by_name["strict"]["threads"] == 0
    assert {n for n, v in by_name.items() if v["prompt"] == "?"} == recorded
    assert sum(v["threads"] for v in report["variants"]) == 4  # the pipeline's subgraph: once
    assert (
        f"threads recorded under variants no longer declared: {', '.join(sorted(recorded))}"
        in report["notes"]
    )
