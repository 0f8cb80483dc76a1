"""The vector repair tells an item put with `index=False` from one whose vector was lost: the
first is left alone at every open, the second is embedded again with one warning, on the
SQLite and the PostgreSQL form of the store; a 0.1.0 store, whose rows carry no mark, opens
and is repaired as that release did."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore
from tests._vector_store import EMBEDDER

NS = ("copydesk", "thread", "t")
FIXTURE = Path(__file__).parent / "fixtures" / "home-0.1.0" / "memory"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "copydesk.memory" and r.levelno == logging.WARNING
    ]


def _lose_vector(store: FaissStore, key: str) -> None:
    """Delete the vector rows of `key`'s item behind the store's back."""
    table = "memory_" if store.url else ""
    mark = "%s" if store.url else "?"
    store.items.db.execute(
        f"DELETE FROM {table}vectors WHERE item_id = (SELECT id FROM {table}items "
        f"WHERE key = {mark})",
        (key,),
    )


def test_an_item_put_with_index_false_is_not_embedded_at_open(
    store_form: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    store.put(NS, "kept", {"text": "lighthouse keeper"})
    store.put(NS, "plain", {"text": "night train"}, index=False)
    store.close()

    caplog.clear()
    again = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    assert _warnings(caplog) == []
    assert again.stats()["vectors"] == 1 and again.stats()["pending"] == 0
    found = {i.key: i.score for i in again.search(NS, query="night train", limit=5)}
    assert found["kept"] is not None and found["plain"] is None  # never scored
    again.close()


def test_a_lost_vector_is_embedded_again_with_one_warning(
    store_form: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    store.put(NS, "kept", {"text": "lighthouse keeper"})
    store.put(NS, "lost", {"text": "night train"})
    store.put(NS, "plain", {"text": "salt bread"}, index=False)
    _lose_vector(store, "lost")
    store.close()

    caplog.clear()
    again = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "0 damaged and 1 missing" in warnings[0]
    assert again.stats()["pending"] == 1
    found = again.search(NS, query="night train", limit=5)
    assert found[0].key == "lost" and found[0].score is not None
    assert {i.key: i.score for i in found}["plain"] is None
    assert again.stats()["pending"] == 0 and again.stats()["vectors"] == 2
    again.close()

    caplog.clear()
    store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"]).close()
    assert _warnings(caplog) == []  # repaired once


def test_a_lost_vector_is_embedded_again_at_the_paths_it_was_put_with(
    store_form: Any, tmp_path: Path
) -> None:
    store = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    store.put(NS, "own", {"text": "salt bread", "title": "harbour crane"}, index=["title"])
    _lose_vector(store, "own")
    store.close()

    again = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    waiting = again.rows.waiting(10)
    assert [(path, text) for _, _, path, text in waiting] == [("title", "harbour crane")]
    again.close()


def test_putting_again_replaces_the_mark(store_form: Any, tmp_path: Path) -> None:
    """An item put with `index=False` and then put indexed is repaired like any other."""
    store = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    store.put(NS, "k", {"text": "night train"}, index=False)
    store.put(NS, "k", {"text": "night train"})
    _lose_vector(store, "k")
    store.close()

    again = store_form(tmp_path / "s", embedder=EMBEDDER, fields=["text"])
    assert again.stats()["pending"] == 1
    again.close()


class Minilm(LexicalEmbedder):
    """Stands in for the embedder 0.1.0's store was written with."""

    @property
    def name(self) -> str:
        return "minilm-l6-v2-int8-384"


def test_a_0_1_0_store_opens_and_its_unmarked_rows_are_repaired_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """0.1.0's rows carry no mark: they are taken as put with the store's fields, so a row
    whose vector is missing is embedded again; items put since are marked."""
    shutil.copytree(FIXTURE, tmp_path / "memory")
    with sqlite3.connect(tmp_path / "memory" / "items.sqlite") as db:
        assert "index_paths" not in {r[1] for r in db.execute("PRAGMA table_info(items)")}
        (items,) = db.execute("SELECT count(*) FROM items").fetchone()
        db.execute("DELETE FROM vectors WHERE item_id = (SELECT min(id) FROM items)")
    db.close()

    caplog.clear()
    store = FaissStore(tmp_path / "memory", embedder=Minilm(384), fields=["text"])
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "0 damaged and 1 missing" in warnings[0]
    assert len(store.search(("copydesk",), limit=1000)) == items
    store.put(("copydesk", "project", "default"), "new", {"text": "a note"}, index=False)
    store.close()

    with sqlite3.connect(tmp_path / "memory" / "items.sqlite") as db:
        marks = dict(db.execute("SELECT key, index_paths FROM items WHERE key = 'new'"))
        (unmarked,) = db.execute("SELECT count(*) FROM items WHERE index_paths IS NULL").fetchone()
    db.close()
    assert marks == {"new": "[]"} and unmarked == items

    caplog.clear()
    FaissStore(tmp_path / "memory", embedder=Minilm(384), fields=["text"]).close()
    assert _warnings(caplog) == []


def test_a_postgres_store_from_before_the_mark_gains_it_when_opened(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A PostgreSQL store written before the mark: its rows are unmarked, so one whose vector
    is missing is embedded again; an item put since with `index=False` is left alone."""
    store = FaissStore(None, url=postgres_url, embedder=EMBEDDER, fields=["text"])
    store.put(NS, "old", {"text": "night train"})
    store.put(NS, "kept", {"text": "lighthouse keeper"})
    store.items.db.execute("ALTER TABLE memory_items DROP COLUMN index_paths")
    _lose_vector(store, "old")
    store.items.close()

    caplog.clear()
    again = FaissStore(None, url=postgres_url, embedder=EMBEDDER, fields=["text"])
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "0 damaged and 1 missing" in warnings[0]
    assert "COPYDESK_STORE_URL" in warnings[0]
    again.put(NS, "plain", {"text": "salt bread"}, index=False)
    again.items.close()

    caplog.clear()
    third = FaissStore(None, url=postgres_url, embedder=EMBEDDER, fields=["text"])
    try:
        assert _warnings(caplog) == []
        found = {i.key: i.score for i in third.search(NS, query="night train", limit=5)}
        assert found["old"] is not None and found["plain"] is None
        assert (third.stats()["vectors"], third.stats()["pending"]) == (2, 0)
    finally:
        third.items.close()
