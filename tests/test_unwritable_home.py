"""A home, database or folder that cannot be opened for writing, whatever the reason, is one
line naming it and the fix, exit 2, at any command: tried on a real read-only file system
(a read-only bind mount made for the test) and on immutable files, which bind even root."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._cli import in_process_cli

OFFLINE = {"COPYDESK_OFFLINE": "1", "COPYDESK_LOCAL_EMBEDDER": "lexical"}


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home one offline run has written: checkpoints, memory, transcripts, usage."""
    home = tmp_path_factory.mktemp("written") / "home"
    mp = pytest.MonkeyPatch()
    for name, value in OFFLINE.items():
        mp.setenv(name, value)
    try:
        cli = next(in_process_cli(home, mp))
        assert cli("run", "turn_taking", "--topic", "Bees", "--thread-id", "bees").exit_code == 0
    finally:
        mp.undo()
    return home


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    yield from in_process_cli(home, monkeypatch)


def read_only_mount(source: Path, target: Path) -> None:
    """Bind-mount `source` read-only at `target`, or skip with the reason."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root and mount(8)")
    target.mkdir(parents=True, exist_ok=True)
    made = _run("mount", "--bind", str(source), str(target))
    if made.returncode != 0:
        pytest.skip(f"this machine does not allow a bind mount: {made.stderr.strip()}")
    sealed = _run("mount", "-o", "remount,ro,bind", str(target))
    if sealed.returncode != 0:
        _run("umount", str(target))
        pytest.skip(f"this machine does not allow a read-only remount: {sealed.stderr.strip()}")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for target in reversed(made):
        _run("umount", str(target))


def one_line(result: Any, *names: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("copydesk: error: "), result.output
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("run", "turn_taking", "--topic", "Owls"),
        ("threads",),
        ("history", "bees"),
        ("memory", "search", "bees"),
        ("memory", "stats"),
    ],
    ids=["run", "threads", "history", "memory search", "memory stats"],
)
def test_a_home_on_a_read_only_file_system(
    written: Path, home: Path, cli: Any, mounts: list[Path], args: tuple[str, ...]
) -> None:
    read_only_mount(written, home)
    mounts.append(home)
    line = one_line(cli(*args), str(home))
    assert "read-only" in line.lower() and "point COPYDESK_HOME at a folder you can write" in line


def test_a_read_only_memory_folder_in_a_writable_home(
    written: Path, home: Path, cli: Any, mounts: list[Path]
) -> None:
    """Only the memory folder is read-only: the run says so before writing anything."""
    shutil.copytree(written, home)
    before = sorted(p.name for p in home.iterdir())
    read_only_mount(written / "memory", home / "memory")
    mounts.append(home / "memory")
    one_line(cli("run", "turn_taking", "--topic", "Owls"), str(home / "memory"), "Read-only")
    one_line(cli("memory", "search", "owls"), str(home / "memory" / "items.sqlite"))
    assert sorted(p.name for p in home.iterdir()) == before


def _immutable(path: Path) -> None:
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("immutable files need root and chattr(1)")
    made = _run("chattr", "+i", str(path))
    if made.returncode != 0:
        pytest.skip(f"this file system has no immutable files: {made.stderr.strip()}")


def test_an_immutable_checkpoint_database_binds_even_root(
    written: Path, home: Path, cli: Any
) -> None:
    shutil.copytree(written, home)
    database = home / "checkpoints.sqlite"
    _immutable(database)
    try:
        one_line(cli("run", "turn_taking", "--topic", "Owls"), str(database), "not permitted")
    finally:
        _run("chattr", "-i", str(database))


def test_an_immutable_memory_folder_is_named_by_the_memory_commands(
    written: Path, home: Path, cli: Any
) -> None:
    shutil.copytree(written, home)
    (home / "memory" / "items.sqlite-wal").unlink(missing_ok=True)
    (home / "memory" / "items.sqlite-shm").unlink(missing_ok=True)
    _immutable(home / "memory")
    try:
        line = one_line(cli("memory", "stats"), str(home / "memory" / "items.sqlite"))
    finally:
        _run("chattr", "-i", str(home / "memory"))
    assert "cannot be opened for writing" in line and "not permitted" in line
