"""`copydesk prompts ...` and `copydesk run --prompt/--experiment` with the offline model and a
home under tmp_path: in process through typer's runner (fast), and one real subprocess for
the error path (one line on stderr, exit 2, nothing written)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from copydesk.graphs.cli import app as main_app
from copydesk.graphs.cli import prompts as _cli_prompts
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR

ENTRY = "from copydesk.graphs.cli import main; main()"
STRIPPED = ("OPENAI_", "COPYDESK_", "LANGCHAIN_", "LANGSMITH_")


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `copydesk ARGS` in process; `env` adds environment variables for that call."""
    app = typer.Typer()
    app.registered_commands = list(main_app.registered_commands)
    _cli_prompts.register(app)
    runner = CliRunner()
    monkeypatch.setenv("COPYDESK_HOME", str(home))

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            result = runner.invoke(app, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    return run


def copydesk(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `copydesk ARGS` in a subprocess, offline, with `home` as COPYDESK_HOME."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED)}
    base |= {"COPYDESK_HOME": str(home), "LANGSMITH_TRACING": "false", **env}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=base,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_list_show_diff_and_experiments(cli: Any, home: Path) -> None:
    """The read-only commands show the shipped versions, labels and experiment."""
    rows = ok_json(cli("prompts", "list", "--json"))
    by_ref = {r["ref"]: r for r in rows}
    assert by_ref["editor@v2"]["labels"] == ["candidate"] and by_ref["editor@v2"]["released"]
    assert by_ref["editor@v2"]["params"] == {"temperature": 0.2}
    assert by_ref["writer@v1"]["labels"] == ["production"]
    shown = cli("prompts", "show", "editor@candidate")
    assert shown.returncode == 0 and shown.stdout.startswith("# editor@v2  (editor@candidate)")
    assert "[params]\ntemperature = 0.2" in shown.stdout
    detail = ok_json(cli("prompts", "show", "editor@production", "--json"))
    assert detail["ref"] == "editor@v1" and detail["params"] == {}
    assert "{draft}" in detail["first"] and "feedback" in detail["variables"]
    diff = cli("prompts", "diff", "editor", "production", "v2")
    assert diff.stdout.startswith("--- editor@v1\n+++ editor@v2\n@@")
    assert "+[params]" in diff.stdout and "-You are the editor" in diff.stdout
    experiments = {e["name"]: e for e in ok_json(cli("prompts", "experiments", "--json"))}
    assert set(experiments) == {"editor-rubric", "editor-small-model", "writer-small-model"}
    assert [v["share"] for v in experiments["editor-rubric"]["variants"]] == [0.5, 0.5]
    missing = cli("prompts", "show", "editor@v7")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "copydesk: error: prompt 'editor' has no version or label 'v7'; use v1, v2, v3, "
        "production, candidate, small-model"
    ]
    assert not home.exists()  # read-only commands write nothing


def test_list_shows_model_parameters(cli: Any, home: Path, tmp_path: Path) -> None:
    """The text list shows each version's model parameters, as --json does."""
    lines = {line.split()[0]: line for line in cli("prompts", "list").stdout.splitlines()}
    assert lines["editor@v2"].split("]  ", 1)[1].startswith("temperature=0.2  Editor, stricter")
    assert "=" not in lines["editor@v1"] and lines["editor@v1"].split("]  ", 1)[1].startswith(
        "Editor: reviews"
    )
    folder = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    v2 = (folder / "editor" / "v2.toml").read_text(encoding="utf-8")
    tuned = v2.replace("temperature = 0.2", "temperature = 0.7\nmax_tokens = 300\nseed = 7")
    (folder / "editor" / "v9.toml").write_text(tuned, encoding="utf-8")
    listed = cli("prompts", "list", COPYDESK_PROMPTS_DIR=str(folder)).stdout.splitlines()
    [line] = [line for line in listed if line.startswith("editor@v9 ")]
    assert "[unreleased]  max_tokens=300  seed=7  temperature=0.7  Editor, stricter" in line
    assert not home.exists()


def test_bad_prompt_or_experiment_is_one_line_exit_2_nothing_written(cli: Any, home: Path) -> None:
    """Unknown prompt, version or experiment: one error line, exit 2, no home created."""
    for args, message in [
        (("--prompt", "editor@v9"), "prompt 'editor' has no version or label 'v9'"),
        (
            ("--prompt", "critic@v1"),
            "unknown prompt 'critic'; known prompts: advocate, consistency_editor,",
        ),
        (("--prompt", "editor"), "use NAME@VERSION or NAME@LABEL"),
        (("--experiment", "nope"), "unknown experiment 'nope'; known experiments: editor-rub"),
        (("--experiment", "editor-rubric", "--prompt", "editor@v1"), "both set the editor"),
    ]:
        proc = cli("run", "turn_taking", "--topic", "tides", *args)
        assert proc.returncode == 2, proc.stderr
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith("copydesk: error: ") and message in line
        assert not home.exists()
    # The same through the real entry point, in a child process: no traceback either.
    proc = copydesk(home, "run", "turn_taking", "--topic", "tides", "--prompt", "editor@v9")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "copydesk: error: prompt 'editor' has no version or label 'v9'; use v1, v2, v3, "
        "production, candidate, small-model"
    ]
    assert not home.exists()


def test_run_with_prompt_and_experiment_then_report(cli: Any) -> None:
    """--prompt and --experiment runs record their versions; history and the report show them."""
    run = ok_json(
        cli("run", "turn_taking", "-t", "tides", "--thread-id", "p1", "--prompt",
                 "editor@candidate", "--json")
    )  # fmt: skip
    assert run["prompts"] == {"writer": "writer@v1", "editor": "editor@v2"}
    history = ok_json(cli("history", "p1", "--json"))
    assert all(h["prompts"]["editor"] == "editor@v2" for h in history)
    text = cli("history", "p1").stdout
    assert "editor@v2" in text.splitlines()[0]
    variants = {}
    for thread in ("e1", "e2", "e3"):
        result = ok_json(
            cli("run", "turn_taking", "-t", "tides", "--thread-id", thread,
                     "--experiment", "editor-rubric", "--json")
        )  # fmt: skip
        variants[thread] = result["experiment"]["variant"]
        assert result["prompts"]["editor"] == result["experiment"]["prompt"]
    assert "editor-rubric=" in cli("history", "e1").stdout
    report = ok_json(cli("prompts", "ab-report", "editor-rubric", "--json", "--price-per-1k", "1"))
    counts = {v["variant"]: v["threads"] for v in report["variants"]}
    expected = {name: list(variants.values()).count(name) for name in ("control", "rubric")}
    assert counts == expected  # p1 ran outside the experiment and is not counted
    assert all(v["approval_rate"] == 1.0 for v in report["variants"] if v["threads"])
    assert all(v["cost"] == v["tokens"] / 1000 for v in report["variants"])
    assert report["test"].startswith("Fisher's exact test")
    table = cli("prompts", "ab-report", "editor-rubric")
    assert table.returncode == 0 and "test: Fisher's exact test" in table.stdout


def test_lint_fails_on_an_edited_released_version(cli: Any, tmp_path: Path) -> None:
    """`prompts lint` passes on the shipped folder and fails, exit 1, once a released file
    changes; `prompts release` locks a new version."""
    assert cli("prompts", "lint").returncode == 0
    root = tmp_path / "my-prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    edited = root / "writer" / "v1.toml"
    edited.write_text(edited.read_text().replace("clear, specific", "crisp, specific"))
    proc = cli("prompts", "lint", COPYDESK_PROMPTS_DIR=str(root))
    assert proc.returncode == 1
    assert "released writer@v1 was edited" in proc.stderr
    assert "copydesk prompts release writer@v3" in proc.stderr
    shutil.copy(DEFAULT_PROMPTS_DIR / "writer" / "v1.toml", edited)  # restore
    (root / "writer" / "v3.toml").write_text(edited.read_text().replace("clear,", "crisp,"))
    released = cli("prompts", "release", "writer@v3", COPYDESK_PROMPTS_DIR=str(root))
    assert released.returncode == 0, released.stderr
    assert "writer" in (root / "released.toml").read_text()
    assert cli("prompts", "lint", COPYDESK_PROMPTS_DIR=str(root)).returncode == 0
