"""A damaged memory store never fails a run, and nothing in it is silently dropped.

- `items.sqlite` truncated, or overwritten with bytes that are not a database: `run` moves
  it aside (`items.sqlite.damaged-<time>`, byte for byte what it was, with the index built
  from it), says so in one warning naming both paths, and remembers this run in a fresh store.
- `vectors.faiss` damaged: rebuilt from `items.sqlite`; every memory is still found.
- `copydesk memory ...` on a damaged database: one line naming the path and the fix, exit 2,
  and the file left as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from copydesk.agents.config import ConfigManager
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.store import DamagedMemoryError, make_store
from copydesk.memory.vector import FaissStore
from tests._cli import cli_env, copydesk, ok, ok_json

WARNING = "WARNING copydesk.memory:"


@pytest.fixture(scope="module")
def remembered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose memory holds one offline run's memories (made once for the module)."""
    root = tmp_path_factory.mktemp("remembered")
    home = root / "home"
    env = cli_env(home, COPYDESK_OFFLINE="1", COPYDESK_LOCAL_EMBEDDER="lexical")
    ok(copydesk(root, env, "run", "turn_taking", "--topic", "Lighthouse keepers keep bees",
                "--thread-id", "bees"))  # fmt: skip
    assert (home / "memory" / "items.sqlite").stat().st_size > 0
    # A store this small keeps its vectors in NumPy and saves no index file; one past
    # `faiss_from` saves `vectors.faiss`: saved here, so that its damage can be tested.
    stamped = sqlite3.connect(home / "memory" / "items.sqlite")
    (dims,) = stamped.execute("SELECT value FROM meta WHERE name = 'dims'").fetchone()
    stamped.close()
    FaissStore(home / "memory", embedder=LexicalEmbedder(int(dims)), faiss_from=0).close()
    assert (home / "memory" / "vectors.faiss").is_file()
    return home


@pytest.fixture
def env(remembered: Path, home: Path) -> dict[str, str]:
    shutil.copytree(remembered, home)
    return cli_env(home, COPYDESK_OFFLINE="1", COPYDESK_LOCAL_EMBEDDER="lexical")


def truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def overwrite(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def memories(tmp_path: Path, env: dict[str, str], query: str) -> list[dict[str, object]]:
    found = ok_json(copydesk(tmp_path, env, "memory", "search", query, "--json", "--limit", "50"))
    assert isinstance(found, list)
    return found


@pytest.mark.parametrize("damage", [truncate, overwrite], ids=["truncated", "random bytes"])
def test_a_run_sets_a_damaged_database_aside_and_remembers_in_a_fresh_one(
    tmp_path: Path, home: Path, env: dict[str, str], damage: object
) -> None:
    items = home / "memory" / "items.sqlite"
    for journal in ("-wal", "-shm"):
        Path(f"{items}{journal}").unlink(missing_ok=True)
    damage(items)  # type: ignore[operator]
    damaged_bytes = items.read_bytes()

    done = ok(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Night trains",
                       "--thread-id", "trains"))  # fmt: skip

    warnings = [line for line in done.stderr.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1, done.stderr
    [aside] = (home / "memory").glob("items.sqlite.damaged-*")
    assert str(items) in warnings[0] and str(aside) in warnings[0]
    assert "damaged" in warnings[0]
    assert aside.read_bytes() == damaged_bytes  # kept as it was, never deleted or rewritten
    assert len(list((home / "memory").glob("vectors.faiss.damaged-*"))) == 1
    found = memories(tmp_path, env, "night trains")
    assert found and {row["thread"] for row in found} == {"trains"}  # this run's, kept

    again = ok(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Tide pools"))
    assert WARNING not in again.stderr  # the fresh store is whole: said once


def test_a_damaged_index_is_rebuilt_from_the_database(
    tmp_path: Path, home: Path, env: dict[str, str]
) -> None:
    before = memories(tmp_path, env, "lighthouse bees")
    overwrite(home / "memory" / "vectors.faiss")

    done = ok(copydesk(tmp_path, env, "memory", "search", "lighthouse bees", "--json",
                       "--limit", "50"))  # fmt: skip

    assert json.loads(done.stdout) == before  # every memory found, ranked as before
    assert "rebuilt it from" in done.stderr and str(home / "memory" / "items.sqlite") in done.stderr


@pytest.mark.parametrize(
    "args",
    [("memory", "stats"), ("memory", "search", "bees"), ("memory", "forget", "--thread", "bees")],
    ids=["stats", "search", "forget"],
)
def test_memory_commands_on_a_damaged_database_are_one_line_exit_2_and_touch_nothing(
    tmp_path: Path, home: Path, env: dict[str, str], args: tuple[str, ...]
) -> None:
    items = home / "memory" / "items.sqlite"
    overwrite(items)
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in items.parent.iterdir()}

    done = copydesk(tmp_path, env, *args)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("copydesk: error: the memory database ")
    assert str(items) in line and "move it aside" in line
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in items.parent.iterdir()}
    assert after == before


def test_make_store_names_the_damaged_file(home: Path) -> None:
    settings = ConfigManager(flags={"home": home}).settings
    (home / "memory").mkdir(parents=True)
    (home / "memory" / "items.sqlite").write_bytes(b"not a database" * 100)

    with pytest.raises(DamagedMemoryError) as caught:
        make_store(settings, LexicalEmbedder())

    assert caught.value.path == home / "memory" / "items.sqlite"
    assert "file is not a database" in str(caught.value)


def test_damaged_and_missing_vector_rows_are_embedded_again_said_once(
    tmp_path: Path, home: Path, env: dict[str, str]
) -> None:
    """Vector rows of the wrong length and rows deleted: `memory search` works, says so in
    one warning, and finds every memory as before; the next command says nothing."""
    before = memories(tmp_path, env, "lighthouse bees")
    (home / "memory" / "vectors.faiss").unlink()  # the index is rebuilt from the rows
    db = sqlite3.connect(home / "memory" / "items.sqlite")
    with db:
        ids = [row[0] for row in db.execute("SELECT id FROM vectors ORDER BY id")]
        db.execute("UPDATE vectors SET vec = substr(vec, 1, 21) WHERE id = ?", (ids[0],))
        db.execute("DELETE FROM vectors WHERE id = ?", (ids[1],))
    db.close()

    done = ok(copydesk(tmp_path, env, "memory", "search", "lighthouse bees", "--json",
                       "--limit", "50"))  # fmt: skip

    warnings = [line for line in done.stderr.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1 and "1 damaged and 1 missing" in warnings[0], done.stderr
    assert "Traceback" not in done.stderr
    assert [row["key"] for row in json.loads(done.stdout)] == [row["key"] for row in before]
    again = ok(copydesk(tmp_path, env, "memory", "stats", "--json"))
    assert WARNING not in again.stderr and json.loads(again.stdout)["pending"] == 0
