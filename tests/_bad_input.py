"""The harness of the bad-input table: a `Case`, the homes and files the cases run on, and a
snapshot to show nothing in them changed.

Every case runs in process (`typer.testing.CliRunner` over the whole app, inside its error
boundary) on the offline model. The cases themselves are in `_bad_input_settings.py`,
`_bad_input_runs.py`, `_bad_input_commands.py` and `_bad_input_damaged.py`.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
import typer

from copydesk.agents.config import ConfigManager
from copydesk.graphs.cli.app import build
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR

THREAD = "t1"
CANARY = "sk-canary-0b5e7d21c9"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: a storage server that is down


@dataclass(frozen=True)
class Case:
    """One bad input: the command, its setting, the home it runs on and what must happen.

    `{home}`, `{assets}`, `{cwd}` and `{checkpoint}` in `args` and `env` are filled in.
    """

    id: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    code: int = 2
    says: str = ""
    """A fragment (any case) the error line must contain: the thing it names."""
    home: str = "none"
    """none (no home yet), thread (one finished thread), or a damaged form (see `_HOMES`)."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Files written to the working directory first (`.env`, `copydesk.toml`)."""


def c(id: str, *args: str, **options: Any) -> Case:
    return Case(id, tuple(args), **options)


RUN = ("run", "turn_taking", "--topic", "Trees")


# --- homes and assets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A home with one finished thread (`THREAD`, offline model, one round)."""

    home: Path
    checkpoint: str
    """The thread's first checkpoint."""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    import asyncio

    from copydesk.graphs.manager import ConversationManager

    home = tmp_path_factory.mktemp("template") / "home"
    nowhere = home.parent / "nowhere"
    flags = {"home": home, "offline": True, "local_embedder": "lexical", "max_rounds": 1}
    settings = ConfigManager(flags=flags, env_file=nowhere, config_file=nowhere).settings

    async def make() -> str:
        async with ConversationManager(settings) as manager:
            await manager.run("turn_taking", topic="Trees in cities", thread_id=THREAD)
            return (await manager.history(THREAD))[-1].checkpoint_id

    return Template(home, asyncio.run(make()))


def _last_row(db: Path, sql: str, *args: Any) -> None:
    connection = sqlite3.connect(db)
    with connection:
        connection.execute(f"{sql} WHERE rowid = (SELECT max(rowid) FROM checkpoints)", args)
    connection.close()  # the last connection out folds the WAL back: the home is at rest


def _damage(home: Path, form: str) -> None:
    db = home / "checkpoints.sqlite"
    if form == "random":
        db.write_bytes(os.urandom(3000) + b"SQLite format 3\x00")
    elif form == "truncated":
        with db.open("r+b") as file:
            file.truncate(db.stat().st_size // 2)
    elif form == "unknown-type":
        _last_row(db, "UPDATE checkpoints SET type = 'pickle-of-doom'")
    elif form == "not-checkpoint":
        _last_row(db, "UPDATE checkpoints SET checkpoint = ?", ormsgpack.packb([1, 2, 3]))
    elif form == "bad-metadata":
        _last_row(db, "UPDATE checkpoints SET metadata = ?", b"\x00\xff")
    elif form == "memory-damaged":
        (home / "memory" / "items.sqlite").write_bytes(os.urandom(5000))
    elif form == "usage-folder":
        (home / "usage.jsonl").unlink()
        (home / "usage.jsonl" / "inside").mkdir(parents=True)
    elif form in ("transcripts-file", "memory-file"):
        part = home / form.removesuffix("-file")
        shutil.rmtree(part, ignore_errors=True)
        part.write_text("not a folder\n", encoding="utf-8")
    elif form == "audit-folder":
        (home / "audit.log").unlink(missing_ok=True)
        (home / "audit.log" / "inside").mkdir(parents=True)
    elif form == "db-folder":
        for extra in home.glob("checkpoints.sqlite*"):
            extra.unlink()
        (db / "inside").mkdir(parents=True)


def _prompts(root: Path, name: str, change: Any) -> None:
    target = root / name
    shutil.copytree(DEFAULT_PROMPTS_DIR, target, ignore=shutil.ignore_patterns("*.py", "__*"))
    change(target)


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files the cases point at; none of them is ever written by a case."""
    root = tmp_path_factory.mktemp("assets")
    (root / "binary.key").write_bytes(bytes(range(256)) * 4)
    (root / "empty.key").write_text("", encoding="utf-8")
    (root / "two.key").write_text(f"{CANARY}\nsecond line\n", encoding="utf-8")
    (root / "empty.txt").write_text("\n \n", encoding="utf-8")
    (root / "topics.txt").write_text("Trees\nRivers\n", encoding="utf-8")
    (root / "long-topic.txt").write_text("Trees\n\n" + "b" * 20_000 + "\n", encoding="utf-8")
    writer = Path("writer/v1.toml")
    _prompts(root, "p-bad-toml", lambda p: _append(p / writer, "\nbroken = [\n"))
    _prompts(root, "p-field", lambda p: _append(p / writer, '\ncolour = "red"\n'))
    _prompts(
        root,
        "p-variable",
        lambda p: (p / writer).write_text(
            (p / writer).read_text(encoding="utf-8").replace("{topic}", "{topic} {mood}", 1),
            encoding="utf-8",
        ),
    )
    _prompts(
        root,
        "p-label",
        lambda p: (p / "labels.toml").write_text(
            '[writer]\nproduction = "v7"\n\n[editor]\nproduction = "v1"\n', encoding="utf-8"
        ),
    )
    _prompts(root, "p-labels-toml", lambda p: _append(p / "labels.toml", "\n[[[\n"))
    _prompts(root, "p-experiments", lambda p: _append(p / "experiments.toml", "\n[[[\n"))
    (root / "p-empty").mkdir()
    variant = '[[variant]]\nname = "a"\ngraph = "turn_taking"\nprompts = ["editor@v1"]\n'
    (root / "suite-no-cases.toml").write_text(variant, encoding="utf-8")
    (root / "suite-prompt.toml").write_text(
        '[[case]]\ntopic = "Trees"\n' + variant.replace("editor@v1", "editor@v9"), encoding="utf-8"
    )
    (root / "rubric.toml").write_text('[[criterion]]\nname = "clarity"\n', encoding="utf-8")
    (root / "suite-rubric.toml").write_text(
        'rubric = "rubric.toml"\n[[case]]\ntopic = "Trees"\n' + variant, encoding="utf-8"
    )
    (root / "suite.toml").write_text('[[case]]\ntopic = "Trees"\n' + variant, encoding="utf-8")
    (root / "not-cassette.json").write_text('{"interactions": []}', encoding="utf-8")
    (root / "debate-cassette.json").write_text(
        '{"copydesk": {"format": "copydesk-cassette/1", "graph": "debate"}, "interactions": []}',
        encoding="utf-8",
    )
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]] | None:
    """File names, sizes and mtimes under `root` (folders by name); None if it is absent."""
    if not root.exists():
        return None
    if root.is_file():
        stat = root.stat()
        return {".": (stat.st_size, stat.st_mtime_ns)}
    found: dict[str, tuple[int, int]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        name = str(path.relative_to(root))
        found[name] = (-1, 0) if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return build()


@pytest.fixture
def quiet_logging() -> Iterator[None]:
    """Each command sets up logging on the runner's stderr; put the test's back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
