"""SQLite tables behind `FaissStore`: namespaces, items, their vectors and the index record.

SQLite is the source of truth: every item and every vector (float32 bytes) is here, written
in one transaction per batch, so the FAISS file is only a cache that can always be rebuilt.
Values are JSON; nothing is pickled.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.store.base import Item

__all__ = ["ItemRow", "ItemTable"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ns_id INTEGER NOT NULL, key TEXT NOT NULL,
    value TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    expires_at REAL, ttl_minutes REAL, UNIQUE (ns_id, key));
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER NOT NULL, path TEXT NOT NULL,
    vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS vectors_item ON vectors (item_id);
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""

ItemRow = tuple[int, tuple[str, ...], Item]
"""(item id, namespace, item)."""


class ItemTable:
    """The SQLite side of the store.

    Args:
        path: Database file; None keeps it in memory.
    """

    def __init__(self, path: Path | None) -> None:
        self.db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self.db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def meta(self, name: str) -> str | None:
        """A value of the meta table."""
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, **values: str) -> None:
        """Set meta values (call inside or outside a transaction)."""
        self.db.executemany(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def namespaces(self) -> list[tuple[int, tuple[str, ...]]]:
        """Every namespace ever written to, in first-write order."""
        rows = self.db.execute("SELECT id, ns FROM namespaces ORDER BY id").fetchall()
        return [(int(i), tuple(json.loads(ns))) for i, ns in rows]

    def live_namespaces(self, now: float) -> list[tuple[str, ...]]:
        """Namespaces holding at least one unexpired item."""
        rows = self.db.execute(
            "SELECT DISTINCT n.ns FROM items i JOIN namespaces n ON n.id = i.ns_id "
            "WHERE i.expires_at IS NULL OR i.expires_at > ?",
            (now,),
        ).fetchall()
        return [tuple(json.loads(ns)) for (ns,) in rows]

    def _ns_id(self, namespace: tuple[str, ...], create: bool) -> int | None:
        text = json.dumps(list(namespace))
        row = self.db.execute("SELECT id FROM namespaces WHERE ns = ?", (text,)).fetchone()
        if row is None and create:
            return int(self.db.execute("INSERT INTO namespaces (ns) VALUES (?)", (text,)).lastrowid)  # type: ignore[arg-type]
        return None if row is None else int(row[0])

    @staticmethod
    def _item(namespace: tuple[str, ...], row: Sequence[Any]) -> Item:
        return Item(
            value=json.loads(row[0]),
            key=str(row[1]),
            namespace=namespace,
            created_at=datetime.fromisoformat(row[2]),
            updated_at=datetime.fromisoformat(row[3]),
        )

    def get(self, namespace: tuple[str, ...], key: str, now: float) -> ItemRow | None:
        """The live item at (namespace, key)."""
        ns_id = self._ns_id(namespace, create=False)
        if ns_id is None:
            return None
        row = self.db.execute(
            "SELECT value, key, created_at, updated_at, id FROM items WHERE ns_id = ? AND key = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (ns_id, key, now),
        ).fetchone()
        return None if row is None else (int(row[4]), namespace, self._item(namespace, row))

    def under(self, prefix: tuple[str, ...], now: float) -> Iterable[ItemRow]:
        """Live items whose namespace starts with `prefix`, namespace then insertion order."""
        for ns_id, namespace in self.namespaces():
            if namespace[: len(prefix)] != prefix:
                continue
            rows = self.db.execute(
                "SELECT value, key, created_at, updated_at, id FROM items WHERE ns_id = ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY id",
                (ns_id, now),
            )
            for row in rows:
                yield int(row[4]), namespace, self._item(namespace, row)

    def by_ids(self, item_ids: Sequence[int], now: float) -> dict[int, ItemRow]:
        """Live items by id."""
        out: dict[int, ItemRow] = {}
        names = dict(self.namespaces())
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT value, key, created_at, updated_at, id, ns_id FROM items "
                f"WHERE id IN ({marks}) AND (expires_at IS NULL OR expires_at > ?)",
                (*chunk, now),
            )
            for row in rows:
                namespace = names[int(row[5])]
                out[int(row[4])] = (int(row[4]), namespace, self._item(namespace, row))
        return out

    def put(
        self, namespace: tuple[str, ...], key: str, value: dict[str, Any], ttl: float | None
    ) -> tuple[int, list[int]]:
        """Insert or update; return the item id and the vector ids it had before."""
        ns_id = self._ns_id(namespace, create=True)
        now = datetime.now(UTC).isoformat()
        expires = time.time() + ttl * 60 if ttl is not None else None
        row = self.db.execute(
            "SELECT id FROM items WHERE ns_id = ? AND key = ?", (ns_id, key)
        ).fetchone()
        text = json.dumps(value, ensure_ascii=False)
        if row is None:
            cursor = self.db.execute(
                "INSERT INTO items (ns_id, key, value, created_at, updated_at, expires_at, "
                "ttl_minutes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ns_id, key, text, now, now, expires, ttl),
            )
            return int(cursor.lastrowid or 0), []
        item_id = int(row[0])
        self.db.execute(
            "UPDATE items SET value = ?, updated_at = ?, expires_at = ?, ttl_minutes = ? "
            "WHERE id = ?",
            (text, now, expires, ttl, item_id),
        )
        return item_id, self.drop_vectors([item_id])

    def delete(self, namespace: tuple[str, ...], key: str) -> list[int]:
        """Delete an item; return its vector ids."""
        ns_id = self._ns_id(namespace, create=False)
        row = self.db.execute(
            "SELECT id FROM items WHERE ns_id = ? AND key = ?", (ns_id, key)
        ).fetchone()
        if row is None:
            return []
        self.db.execute("DELETE FROM items WHERE id = ?", (row[0],))
        return self.drop_vectors([int(row[0])])

    def drop_vectors(self, item_ids: Sequence[int]) -> list[int]:
        """Delete the vectors of items; return their ids."""
        marks = ",".join("?" * len(item_ids))
        ids = [
            int(r[0])
            for r in self.db.execute(f"SELECT id FROM vectors WHERE item_id IN ({marks})", item_ids)
        ]
        self.db.execute(f"DELETE FROM vectors WHERE item_id IN ({marks})", item_ids)
        return ids

    def add_vectors(self, rows: Sequence[tuple[int, str, bytes]]) -> list[int]:
        """Insert (item id, path, float32 bytes); return the new vector ids."""
        ids = []
        for item_id, path, blob in rows:
            cursor = self.db.execute(
                "INSERT INTO vectors (item_id, path, vec) VALUES (?, ?, ?)", (item_id, path, blob)
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def vectors_of(self, item_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(vector id, item id) of items, in item then vector order."""
        out: list[tuple[int, int]] = []
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            out += self.db.execute(
                f"SELECT id, item_id FROM vectors WHERE item_id IN ({marks})", chunk
            ).fetchall()
        order = {item_id: n for n, item_id in enumerate(item_ids)}
        return sorted(out, key=lambda r: (order[r[1]], r[0]))

    def vector_items(self, vector_ids: Sequence[int]) -> dict[int, int]:
        """Vector id -> item id, for vectors that still exist."""
        out: dict[int, int] = {}
        for start in range(0, len(vector_ids), 500):
            chunk = list(vector_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            out.update(
                self.db.execute(f"SELECT id, item_id FROM vectors WHERE id IN ({marks})", chunk)
            )
        return out

    def all_vectors(self) -> Iterable[tuple[int, bytes]]:
        """Every (vector id, float32 bytes), for rebuilding the index."""
        yield from self.db.execute("SELECT id, vec FROM vectors ORDER BY id")

    def refresh(self, item_id: int) -> None:
        """Restart an item's TTL."""
        self.db.execute(
            "UPDATE items SET expires_at = ? + ttl_minutes * 60 WHERE id = ? "
            "AND ttl_minutes IS NOT NULL",
            (time.time(), item_id),
        )

    def expired(self, now: float) -> list[int]:
        """Delete expired items; return their vector ids."""
        ids = [
            int(r[0])
            for r in self.db.execute(
                "SELECT id FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
        ]
        if not ids:
            return []
        vector_ids = self.drop_vectors(ids)
        self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        return vector_ids

    def count(self, table: str) -> int:
        """Rows in `items`, `vectors` or `namespaces`."""
        assert table in ("items", "vectors", "namespaces")
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
