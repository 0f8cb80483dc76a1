"""`copydesk threads` on the default SQLite store reads the rows without LangGraph, and lists
exactly what the checkpointer would; rows it cannot read go through LangGraph instead."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import ormsgpack
import pytest

from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.threads import list_threads, threads_at
from copydesk.memory.checkpoint import open_checkpointer
from copydesk.memory.checkpoint_rows import latest_sqlite_checkpoints
from copydesk.memory.errors import DamagedStoreError
from tests._cli import cli_env


async def _three_threads(make_settings: Any) -> tuple[str, Path]:
    settings = make_settings(offline=True)
    async with ConversationManager(settings) as manager:
        await manager.run("turn_taking", topic="Night ferries", thread_id="done")
        await manager.run("turn_taking", topic="Cargo bikes", thread_id="paused", review=True)
        await manager.run("pipeline", topic="Sleeper trains", thread_id="nested", review=True)
        await manager.run("debate", topic="Tram lines", thread_id="short", max_rounds=1)
    url = settings.resolved_checkpoint_url
    return url, Path(url.removeprefix("sqlite:///"))


async def test_the_rows_read_without_langgraph_match_the_checkpointer(
    make_settings: Any,
) -> None:
    """Same threads, statuses (waiting for review included, also inside a subgraph), topics,
    rounds, graphs and order as LangGraph's own reading of the same file."""
    url, path = await _three_threads(make_settings)
    assert latest_sqlite_checkpoints(path) is not None  # the fast path is the one taken
    async with open_checkpointer(url) as checkpointer:
        expected = await list_threads(checkpointer)
    listed = await threads_at(url)
    assert listed == expected
    by_id = {t.thread_id: t for t in listed}
    assert by_id["done"].status == "approved" and by_id["done"].topic == "Night ferries"
    assert by_id["paused"].status == "waiting_for_review"
    assert by_id["nested"].status == "waiting_for_review" and by_id["nested"].graph == "pipeline"
    assert by_id["short"].rounds == 1 and by_id["short"].graph == "debate"


async def test_a_row_in_an_unknown_form_is_read_through_langgraph(make_settings: Any) -> None:
    """A checkpoint stored under another serializer's tag is not guessed at."""
    url, path = await _three_threads(make_settings)
    async with open_checkpointer(url) as checkpointer:
        expected = await list_threads(checkpointer)
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE checkpoints SET type = 'msgpack+custom' WHERE rowid = "
            "(SELECT max(rowid) FROM checkpoints)"
        )
    assert latest_sqlite_checkpoints(path) is None
    with pytest.raises(DamagedStoreError, match="msgpack\\+custom"):
        await threads_at(url)  # LangGraph's reader does not know the tag either: it says so
    with sqlite3.connect(path) as db:
        db.execute("UPDATE checkpoints SET type = 'msgpack' WHERE type = 'msgpack+custom'")
    assert await threads_at(url) == expected


def test_extension_types_in_a_row_are_never_revived(tmp_path: Path) -> None:
    """A crafted row naming a callable decodes to None; nothing is imported or called."""
    marker = tmp_path / "called"
    crafted = ormsgpack.packb(
        {
            "ts": "2026-01-01T00:00:00+00:00",
            "channel_values": {
                "topic": "crafted",
                "round": 1,
                "status": ormsgpack.Ext(5, ormsgpack.packb(["os", "system", [f"touch {marker}"]])),
            },
        }
    )
    path = tmp_path / "checkpoints.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE checkpoints (thread_id TEXT, checkpoint_ns TEXT, checkpoint_id TEXT, "
            "parent_checkpoint_id TEXT, type TEXT, checkpoint BLOB, metadata BLOB)"
        )
        db.execute(
            "CREATE TABLE writes (thread_id TEXT, checkpoint_ns TEXT, checkpoint_id TEXT, "
            "task_id TEXT, task_path TEXT, idx INTEGER, channel TEXT, type TEXT, value BLOB)"
        )
        db.execute(
            "INSERT INTO checkpoints VALUES ('t', '', '1', NULL, 'msgpack', ?, ?)",
            (crafted, b'{"graph": "turn_taking"}'),
        )
    (row,) = latest_sqlite_checkpoints(path) or []
    assert row.values == {"topic": "crafted", "round": 1, "status": None}
    assert not marker.exists()


def test_a_damaged_file_is_one_line_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\xff" * 200)
    with pytest.raises(DamagedStoreError, match="move it aside"):
        latest_sqlite_checkpoints(path)
    assert latest_sqlite_checkpoints(tmp_path / "absent.sqlite") == []


def test_listing_threads_loads_no_langgraph(make_settings: Any, home: Path) -> None:
    """The command's cost is its imports: LangGraph and langchain_core stay unloaded."""

    async def one_thread() -> None:
        async with ConversationManager(make_settings(offline=True)) as manager:
            await manager.run("turn_taking", topic="Quiet streets", thread_id="q1")

    asyncio.run(one_thread())
    probe = (
        "import sys\n"
        "from copydesk.graphs.cli import main\n"
        "sys.argv = ['copydesk', 'threads']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('langgraph', 'langchain_core', 'faiss', 'numpy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=cli_env(home), cwd=home.parent,
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Quiet streets" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
