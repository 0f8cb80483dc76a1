"""Checkpointers from URLs, and strict deserialization of checkpoint rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from copydesk.agents.team import Agents
from copydesk.graphs.topologies.turn_taking import build
from copydesk.memory.checkpoint import CheckpointURLError, open_checkpointer, sqlite_path


def _keep_ext(code: int, data: bytes) -> Any:
    return ormsgpack.Ext(code, data)


async def _thread_in_sqlite(path: Path, make_settings: Any) -> dict[str, Any]:
    settings = make_settings()
    async with open_checkpointer(f"sqlite:///{path}") as saver:
        graph = build(agents=Agents.default(settings), checkpointer=saver)
        config = {"configurable": {"thread_id": "t1"}}
        await graph.ainvoke({"topic": "tides", "max_rounds": 1}, config)
    return config


def _plant_trap(path: Path, marker: Path) -> None:
    """Rewrite the newest checkpoint so its `topic` names tests.fakes.trap.Spring(marker)."""
    with sqlite3.connect(path) as db:
        checkpoint_id, blob = db.execute(
            "SELECT checkpoint_id, checkpoint FROM checkpoints WHERE thread_id='t1' "
            "ORDER BY checkpoint_id DESC LIMIT 1"
        ).fetchone()
        checkpoint = ormsgpack.unpackb(blob, ext_hook=_keep_ext)
        payload = ormsgpack.packb(("tests.fakes.trap", "Spring", str(marker)))
        checkpoint["channel_values"]["topic"] = ormsgpack.Ext(0, payload)
        db.execute(
            "UPDATE checkpoints SET checkpoint=? WHERE thread_id='t1' AND checkpoint_id=?",
            (ormsgpack.packb(checkpoint), checkpoint_id),
        )


async def test_crafted_row_does_not_run_code(tmp_path: Path, make_settings: Any) -> None:
    """A row naming an arbitrary callable is read back as data; the callable never runs."""
    path, marker = tmp_path / "cp.sqlite", tmp_path / "sprung"
    config = await _thread_in_sqlite(path, make_settings)
    _plant_trap(path, marker)

    async with open_checkpointer(f"sqlite:///{path}") as saver:
        loaded = await saver.aget_tuple(config)

    assert loaded is not None
    assert not marker.exists()
    assert loaded.checkpoint["channel_values"]["topic"] == str(marker)  # raw data, not revived


async def test_crafted_row_is_effective_against_permissive_serializer(
    tmp_path: Path, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The same row does run code under LangGraph's permissive default: the test above bites."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path, marker = tmp_path / "cp.sqlite", tmp_path / "sprung"
    config = await _thread_in_sqlite(path, make_settings)
    _plant_trap(path, marker)

    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        saver.serde = JsonPlusSerializer(allowed_msgpack_modules=True)
        await saver.aget_tuple(config)

    assert marker.exists()


async def test_memory_and_sqlite_urls(tmp_path: Path) -> None:
    """memory: keeps nothing on disk; sqlite:/// creates its file and parent folder."""
    async with open_checkpointer("memory:") as saver:
        assert await saver.aget_tuple({"configurable": {"thread_id": "x"}}) is None
    target = tmp_path / "deep" / "cp.sqlite"
    async with open_checkpointer(f"sqlite:///{target}"):
        pass
    assert target.exists()


async def test_unknown_scheme_is_a_clear_error() -> None:
    """A URL naming no backend says which ones exist."""
    with pytest.raises(CheckpointURLError, match=r"memory:, sqlite:///path or postgresql"):
        async with open_checkpointer("mysql://x"):
            pass


def test_sqlite_path_forms() -> None:
    """sqlite:///relative and sqlite:////absolute, as SQLAlchemy spells them."""
    assert sqlite_path("sqlite:///a/b.sqlite") == Path("a/b.sqlite")
    assert sqlite_path("sqlite:////abs/b.sqlite") == Path("/abs/b.sqlite")
    with pytest.raises(CheckpointURLError):
        sqlite_path("sqlite:///")
