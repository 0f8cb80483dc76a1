"""What the commands print for a person (not `--json`), on the offline model, in-process:
threads, history, export to stdout and to files, run-many and usage."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR
from tests._cli import in_process_cli


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`copydesk ARGS` in this process, home under tmp_path, offline."""
    yield from in_process_cli(home, monkeypatch)


def test_threads_before_any_run_says_how_to_start(cli: Any, home: Path) -> None:
    listed = cli("threads")

    assert listed.exit_code == 0
    assert listed.stdout == (
        'no threads yet; start one with: copydesk run turn_taking --topic "..."\n'
    )
    assert json.loads(cli("threads", "--json").stdout) == []
    assert not home.exists()


def test_threads_and_history_as_text(cli: Any) -> None:
    run = cli(
        "run", "turn_taking", "-t", "Lighthouse keepers", "--thread-id", "keepers",
        "--experiment", "editor-rubric",
    )  # fmt: skip
    assert run.exit_code == 0, run.output

    threads = cli("threads").stdout.splitlines()
    history = cli("history", "keepers").stdout.splitlines()
    rows = json.loads(cli("history", "keepers", "--json").stdout)

    assert len(threads) == 1
    assert threads[0].split()[:3] == ["keepers", "turn_taking", "approved"]
    assert threads[0].endswith("Lighthouse keepers")
    assert len(history) == len(rows) > 2
    newest, variant = rows[0], rows[0]["experiment"]["variant"]
    assert history[0].startswith(f"{newest['checkpoint_id']}  step={newest['step']}")
    assert f"editor-rubric={variant}" in history[0]  # the A/B arm the thread is in
    assert ",".join(newest["prompts"].values()) in history[0]


def test_export_to_stdout_and_to_files(cli: Any, tmp_path: Path) -> None:
    assert cli("run", "turn_taking", "-t", "Salt marshes", "--thread-id", "marsh").exit_code == 0

    markdown = cli("export", "marsh")
    to_file = cli("export", "marsh", "-o", str(tmp_path / "marsh.md"))
    as_json = cli("export", "marsh", "-o", str(tmp_path / "marsh.json"))  # by the suffix

    assert markdown.exit_code == 0 and "Salt marshes" in markdown.stdout
    assert to_file.exit_code == 0 and f"wrote {tmp_path / 'marsh.md'}" in to_file.output
    assert (tmp_path / "marsh.md").read_text(encoding="utf-8") == markdown.stdout
    assert as_json.exit_code == 0
    exported = json.loads((tmp_path / "marsh.json").read_text(encoding="utf-8"))
    assert exported["thread_id"] == "marsh" and exported["status"] == "approved"
    assert [line["agent"] for line in exported["transcript"]][:2] == ["writer", "editor"]


def test_run_many_and_usage_as_text(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "topics.txt").write_text("Tidal mills\n\nSea fog\n", encoding="utf-8")

    done = cli("run-many", "topics.txt", "--graph", "turn_taking")
    usage = cli("usage")

    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert [line.split()[1:3] for line in lines] == [["approved", "$0.0000"]] * 2
    assert [line.split("  ")[-1] for line in lines] == ["Tidal mills", "Sea fog"]
    assert usage.exit_code == 0 and "copydesk-offline" in usage.stdout


def test_a_run_out_of_rounds_says_how_many_issues_are_open(cli: Any) -> None:
    done = cli("run", "turn_taking", "-t", "Tide pools", "--max-rounds", "1")

    assert done.exit_code == 0, done.output
    status = next(line for line in done.output.splitlines() if line.startswith("status: "))
    assert status.startswith("status: out_of_rounds · rounds: 1")
    assert re.search(r"^the editor did not approve: [1-9]\d* issue\(s\) still open$",
                     done.output, re.MULTILINE)  # fmt: skip


def test_an_output_path_under_a_file_is_refused_before_any_work(cli: Any, tmp_path: Path) -> None:
    assert cli("run", "turn_taking", "-t", "Salt marshes", "--thread-id", "marsh").exit_code == 0
    (tmp_path / "notes.txt").write_text("not a folder\n", encoding="utf-8")

    refused = cli("export", "marsh", "-o", str(tmp_path / "notes.txt" / "marsh.md"))

    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        f"copydesk: error: -o {tmp_path / 'notes.txt' / 'marsh.md'}: {tmp_path / 'notes.txt'} "
        "is a file, not a folder; fix the path"
    )


def test_prompt_experiments_and_lint_notes_as_text(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = cli("prompts", "experiments").stdout.splitlines()
    root = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, root, ignore=shutil.ignore_patterns("*.py", "__py*"))
    (root / "writer" / "v3.toml").write_text(
        (root / "writer" / "v1.toml").read_text(encoding="utf-8") + "\n# a new version\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("COPYDESK_PROMPTS_DIR", str(root))

    linted = cli("prompts", "lint")

    rubric = next(line for line in experiments if line.startswith("editor-rubric "))
    assert rubric.split()[1] == "editor"
    assert "control=editor@v1 (50%)  rubric=editor@v2 (50%)  Does the stricter" in rubric
    assert linted.exit_code == 0
    assert linted.stdout.splitlines() == [
        "note: writer@v3 is not released yet; release it with `copydesk prompts release "
        "writer@v3` once final",
        "prompts ok",
    ]
