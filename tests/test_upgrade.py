"""A home written by copydesk 0.1.0 (`tests/fixtures/home-0.1.0`: six topologies, a review
paused for a human, a thread out of rounds; checkpoints, memory, transcripts and usage), read
by this release from the CLI: it lists, shows history, resumes, forks and exports.

The fixture was written with `COPYDESK_OFFLINE=1 copydesk run ...` by the release whose
packages were the top-level `agents`, `graphs`, `memory` and `prompts`; nothing in it names a
module, and these tests keep it that way for every later release.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

from tests._cli import cli_env, copydesk

FIXTURE = Path(__file__).parent / "fixtures" / "home-0.1.0"
TOPOLOGIES = ("turn_taking", "debate", "round_robin", "supervisor", "review_panel", "pipeline")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A copy of the old home (the tests write to it)."""
    copy = tmp_path / "home"
    shutil.copytree(FIXTURE, copy)
    return copy


def run(home: Path, *args: str) -> dict[str, object]:
    done = copydesk(home.parent, cli_env(home, COPYDESK_OFFLINE="1"), *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_old_checkpoints_name_no_module() -> None:
    """Nothing in the 0.1.0 databases names a Python module, old or new."""
    for name in ("checkpoints.sqlite", "memory/items.sqlite"):
        data = (FIXTURE / name).read_bytes()
        for package in (b"agents.", b"graphs.", b"memory.", b"prompts.", b"copydesk."):
            assert package + b"client" not in data and package + b"state" not in data


def test_old_threads_list_with_their_endings(home: Path) -> None:
    done = copydesk(home.parent, cli_env(home), "threads")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[2] for line in done.stdout.splitlines()}
    assert rows == {
        **{f"old-{name}": "approved" for name in TOPOLOGIES if name != "pipeline"},
        "old-pipeline": "completed",
        "old-review": "waiting_for_review",
        "old-budget": "out_of_rounds",
    }


def test_an_old_paused_review_resumes_to_its_ending(home: Path) -> None:
    result = run(home, "resume", "old-review", "--approve")
    assert result["ended_by"] == "human"
    assert "river" in str(result["final_draft"]).lower()


def test_an_old_thread_forks_from_its_history(home: Path) -> None:
    history = copydesk(home.parent, cli_env(home), "history", "old-debate")
    assert history.returncode == 0, history.stderr
    checkpoints = [line.split()[0] for line in history.stdout.splitlines() if line.strip()]
    assert len(checkpoints) > 3
    result = run(home, "fork", "old-debate", "--checkpoint", checkpoints[-2], "--thread-id",
                 "new-debate", "--set", "max_rounds=3")  # fmt: skip
    assert result["thread_id"] == "new-debate"
    assert result["ended_by"] in {"approved", "out_of_rounds"}
    with sqlite3.connect(home / "checkpoints.sqlite") as db:
        threads = {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert {"old-debate", "new-debate"} <= threads


@pytest.mark.parametrize("thread", [f"old-{name}" for name in TOPOLOGIES])
def test_old_threads_export_to_markdown_and_word(home: Path, thread: str) -> None:
    markdown = home.parent / f"{thread}.md"
    done = copydesk(home.parent, cli_env(home), "export", thread, "-o", str(markdown))
    assert done.returncode == 0, done.stderr
    text = markdown.read_text(encoding="utf-8")
    assert "city trees" in text.lower()
    word = home.parent / f"{thread}.docx"
    done = copydesk(home.parent, cli_env(home), "export", thread, "-o", str(word))
    assert done.returncode == 0, done.stderr
    assert "word/document.xml" in zipfile.ZipFile(word).namelist()


def test_old_usage_and_memory_still_read(home: Path) -> None:
    usage = copydesk(home.parent, cli_env(home), "usage", "--json")
    assert usage.returncode == 0, usage.stderr
    assert "old-turn_taking" in usage.stdout
    stats = copydesk(home.parent, cli_env(home), "memory", "stats")
    assert stats.returncode == 0, stats.stderr
    assert "items       36" in stats.stdout
    found = copydesk(home.parent, cli_env(home, COPYDESK_OFFLINE="1"), "memory", "search", "trees")
    assert found.returncode == 0, found.stderr
    assert "copydesk/thread/old-turn_taking" in found.stdout
