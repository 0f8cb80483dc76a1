"""SQLite tables behind `FaissStore`: namespaces, items and their TTLs, and the meta record.

SQLite is the source of truth: every item (here) and every vector (`copydesk.memory._rows`) is in
one
database, written in one transaction per batch, so the FAISS file is only a cache that can
always be rebuilt. Values are JSON; nothing is pickled. `read()` and `write()` are the two
kinds of transaction: a read sees one snapshot of the database from its first statement to
its end, so what it learns about the generation and what it reads next agree, whatever other
processes commit meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from langgraph.store.base import Item

__all__ = ["SQLITE_CORRUPT", "SQLITE_NOTADB", "ItemRow", "ItemTable"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ns_id INTEGER NOT NULL, key TEXT NOT NULL,
    value TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    expires_at REAL, ttl_minutes REAL, UNIQUE (ns_id, key));
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""
_COLUMNS = "value, key, created_at, updated_at, id, ttl_minutes"


def _check(db: sqlite3.Connection) -> None:
    """Raise `sqlite3.DatabaseError` when the file is damaged: a truncated or overwritten
    database can open and then fail at any later read, in the middle of a run. SQLite's
    `quick_check` reads every page once (milliseconds for a store of a few MiB)."""
    problem = db.execute("PRAGMA quick_check(1)").fetchone()
    if problem is None or problem[0] != "ok":
        error = sqlite3.DatabaseError(
            f"integrity check failed: {problem[0] if problem else 'no answer'}"
        )
        error.sqlite_errorcode = SQLITE_CORRUPT
        raise error


SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
"""SQLite's result codes for a damaged database and for a file that is not one."""


class ItemRow(NamedTuple):
    """An item as read, with what the store needs to know about it."""

    id: int
    namespace: tuple[str, ...]
    item: Item
    has_ttl: bool
    """The item expires, so reading it may refresh its TTL (a write)."""


class ItemTable:
    """The item side of the store, and the connection the vector side shares.

    Args:
        path: Database file; None keeps it in memory.
    """

    def __init__(self, path: Path | None) -> None:
        self.db = sqlite3.connect(
            str(path) if path else ":memory:",
            check_same_thread=False,
            isolation_level=None,
            timeout=30.0,
        )
        try:
            self.db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if path is not None:
                _check(self.db)
            self.db.executescript(_SCHEMA)
        except BaseException:
            self.db.close()
            raise
        self._names: dict[int, tuple[str, ...]] = {}

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction: one consistent snapshot for everything read inside it."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction, holding the database's write lock from its start."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

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

    def generation(self) -> int:
        """The number of committed batches that changed items or vectors."""
        return int(self.meta("generation") or 0)

    def namespaces(self) -> list[tuple[int, tuple[str, ...]]]:
        """Every namespace ever written to, in first-write order."""
        rows = self.db.execute("SELECT id, ns FROM namespaces ORDER BY id").fetchall()
        if len(rows) != len(self._names):  # namespaces are only ever added
            self._names = {int(i): tuple(json.loads(ns)) for i, ns in rows}
        return list(self._names.items())

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
    def _row(namespace: tuple[str, ...], row: Sequence[Any]) -> ItemRow:
        item = Item(
            value=json.loads(row[0]),
            key=str(row[1]),
            namespace=namespace,
            created_at=datetime.fromisoformat(row[2]),
            updated_at=datetime.fromisoformat(row[3]),
        )
        return ItemRow(int(row[4]), namespace, item, row[5] is not None)

    def get(self, namespace: tuple[str, ...], key: str, now: float) -> ItemRow | None:
        """The live item at (namespace, key)."""
        ns_id = self._ns_id(namespace, create=False)
        if ns_id is None:
            return None
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM items WHERE ns_id = ? AND key = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (ns_id, key, now),
        ).fetchone()
        return None if row is None else self._row(namespace, row)

    def under(self, prefix: tuple[str, ...], now: float) -> Iterable[ItemRow]:
        """Live items whose namespace starts with `prefix`, namespace then insertion order."""
        for ns_id, namespace in self.namespaces():
            if namespace[: len(prefix)] != prefix:
                continue
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE ns_id = ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY id",
                (ns_id, now),
            )
            for row in rows:
                yield self._row(namespace, row)

    def by_ids(self, item_ids: Sequence[int], now: float) -> dict[int, ItemRow]:
        """Live items by id."""
        out: dict[int, ItemRow] = {}
        names = dict(self.namespaces())
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_COLUMNS}, ns_id FROM items "
                f"WHERE id IN ({marks}) AND (expires_at IS NULL OR expires_at > ?)",
                (*chunk, now),
            )
            for row in rows:
                found = self._row(names[int(row[6])], row)
                out[found.id] = found
        return out

    def put(
        self, namespace: tuple[str, ...], key: str, value: dict[str, Any], ttl: float | None
    ) -> tuple[int, bool]:
        """Insert or update; return the item id and whether it existed (its vectors are the
        caller's to drop)."""
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
            return int(cursor.lastrowid or 0), False
        self.db.execute(
            "UPDATE items SET value = ?, updated_at = ?, expires_at = ?, ttl_minutes = ? "
            "WHERE id = ?",
            (text, now, expires, ttl, row[0]),
        )
        return int(row[0]), True

    def delete(self, namespace: tuple[str, ...], key: str) -> int | None:
        """Delete an item; return its id (None when there was none)."""
        ns_id = self._ns_id(namespace, create=False)
        row = self.db.execute(
            "SELECT id FROM items WHERE ns_id = ? AND key = ?", (ns_id, key)
        ).fetchone()
        if row is None:
            return None
        self.db.execute("DELETE FROM items WHERE id = ?", (row[0],))
        return int(row[0])

    def refresh(self, item_ids: Sequence[int]) -> None:
        """Restart the TTL of items that have one."""
        self.db.executemany(
            "UPDATE items SET expires_at = ? + ttl_minutes * 60 WHERE id = ? "
            "AND ttl_minutes IS NOT NULL",
            [(time.time(), i) for i in item_ids],
        )

    def expired(self, now: float) -> list[int]:
        """Delete expired items; return their ids."""
        ids = [
            int(r[0])
            for r in self.db.execute(
                "SELECT id FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
        ]
        self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        return ids

    def count(self, table: str) -> int:
        """Rows in `items`, `vectors`, `pending` or `namespaces`."""
        assert table in ("items", "vectors", "pending", "namespaces")
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
