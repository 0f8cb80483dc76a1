"""Memory's small rules at their edges: a checkpoint file of another shape is left to LangGraph's
own reader, a window's summary share is checked, and an endpoint's embeddings are probed only
where they may be missing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from copydesk.memory import FaissStore
from copydesk.memory.buffer import WindowPolicy
from copydesk.memory.checkpoint_rows import latest_sqlite_checkpoints
from copydesk.memory.fallback import _message, serving_embedder


def test_a_checkpoint_table_of_another_shape_is_not_read_here(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE checkpoints (thread_id TEXT)")
        db.execute("CREATE TABLE writes (thread_id TEXT)")
    assert latest_sqlite_checkpoints(path) is None  # LangGraph's reader says what it is


def test_a_checkpoint_blob_that_is_not_msgpack_is_not_read_here(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE checkpoints (thread_id TEXT, checkpoint_ns TEXT, checkpoint_id TEXT,"
            " type TEXT, checkpoint BLOB, metadata BLOB)"
        )
        db.execute(
            "CREATE TABLE writes (thread_id TEXT, checkpoint_ns TEXT, checkpoint_id TEXT,"
            " channel TEXT)"
        )
        db.execute(
            "INSERT INTO checkpoints VALUES ('t', '', '1', 'msgpack', ?, '{}')", (b"\xc1\xff",)
        )
    assert latest_sqlite_checkpoints(path) is None


def test_the_summary_share_must_be_below_the_window() -> None:
    with pytest.raises(ValueError, match="summary_tokens must be at least 0 and below"):
        WindowPolicy(max_tokens=100, summary_tokens=100)


class _Embedder:
    name = "stand-in"


def test_openai_itself_is_not_probed_for_embeddings() -> None:
    remote, local = _Embedder(), _Embedder()
    chosen = serving_embedder(
        remote,  # type: ignore[arg-type]
        local,  # type: ignore[arg-type]
        base_url="https://api.openai.com/v1",
        model="text-embedding-3-small",
        decide=lambda *_: False,  # never asked: OpenAI serves embeddings
    )
    assert chosen is remote


def test_an_error_body_that_is_not_json_is_told_as_its_text() -> None:
    response = httpx.Response(404, text="<html>no such route</html>")
    assert _message(response) == "<html>no such route</html>"


def test_a_store_with_vectors_opens_without_an_embedder(tmp_path: Path) -> None:
    """Reading memories needs no embedder: the saved vectors load at the length they were made."""
    fixture = Path(__file__).parent / "fixtures" / "home-0.1.0" / "memory"
    shutil.copytree(fixture, tmp_path / "memory")
    store = FaissStore(tmp_path / "memory")
    try:
        items = store.search(("copydesk",), limit=100)
        assert len(items) == 36
        assert all(item.score is None for item in items)
    finally:
        store.close()
