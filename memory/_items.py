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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from langgraph.store.base import Item

from copydesk.memory._select import filter_sql, ns_sql

__all__ = [
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "ItemRow",
    "ItemTable",
    "Marked",
    "index_mark",
    "index_paths",
    "namespace_of",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ns_id INTEGER NOT NULL, key TEXT NOT NULL,
    value TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    expires_at REAL, ttl_minutes REAL, used_at REAL, index_paths TEXT, UNIQUE (ns_id, key));
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""
_LIVE = "(i.expires_at IS NULL OR i.expires_at > ?)"
_COLUMNS = "value, key, created_at, updated_at, id, ttl_minutes"


def namespace_of(names: dict[int, tuple[str, ...]], ns_id: int, text: str) -> tuple[str, ...]:
    """The namespace of id `ns_id` stored as `text`, decoded once into `names` (namespaces are
    never renamed)."""
    name = names.get(ns_id)
    if name is None:
        name = names[ns_id] = tuple(json.loads(text))
    return name


def _add_columns(db: sqlite3.Connection) -> None:
    """Give a store written before a column (0.1.0's, say) the column, once: `used_at` (its
    items count as used before any item written since) and `index_paths` (its items are
    unmarked: taken as put with the store's fields, see `index_mark`)."""
    wanted = {"used_at": "REAL", "index_paths": "TEXT"}
    columns = {str(r[1]) for r in db.execute("PRAGMA table_info(items)")}
    if not wanted.keys() <= columns:
        db.execute("BEGIN IMMEDIATE")
        try:
            names = {str(r[1]) for r in db.execute("PRAGMA table_info(items)")}
            for name, kind in wanted.items():
                if name not in names:  # pragma: no branch - else: another process added it
                    db.execute(f"ALTER TABLE items ADD COLUMN {name} {kind}")
            db.execute("COMMIT")
        except BaseException:  # pragma: no cover - a failed ALTER on a healthy file
            db.execute("ROLLBACK")
            raise


def index_mark(index: Literal[False] | Sequence[str] | None) -> str | None:
    """What an item's row keeps of the `index` it was put with: NULL for the store's fields
    (and for every row written before the mark existed), `[]` for `index=False`, else the
    JSON list of its paths. The vector repair reads it, so an item put unindexed on purpose
    is not taken for one whose vector was lost."""
    if index is None:
        return None
    return json.dumps([] if index is False else list(index))


def index_paths(mark: str | None) -> list[str] | None:
    """The `index` paths of a mark (`[]`: none, put with `index=False`); None: the store's
    fields."""
    return None if mark is None else [str(p) for p in json.loads(mark)]


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


Marked = tuple[dict[str, Any], list[str] | None]
"""An item's value and the `index_paths` of its mark."""

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
            _add_columns(self.db)
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

    def candidates(
        self, prefix: tuple[str, ...], now: float, where: Mapping[str, Any] | None
    ) -> Any:
        """(item id, vector id or -1) rows, an int64 array, of the live items under `prefix`
        that may match `where`, in namespace, item then vector order; reads ids only, through
        the indexes."""
        names, names_args = ns_sql(prefix)
        pushed, pushed_args = filter_sql(where, "json_extract(i.value, '$.{key}')", numbers=True)
        rows = self.db.execute(
            "SELECT i.id, coalesce(v.id, -1) FROM namespaces n JOIN items i ON i.ns_id = n.id "
            f"LEFT JOIN vectors v ON v.item_id = i.id WHERE {names} AND {_LIVE} AND {pushed} "
            "ORDER BY n.id, i.id, v.id",
            (*names_args, now, *pushed_args),
        )
        return np.array(rows.fetchall(), np.int64).reshape(-1, 2)

    def by_ids(self, item_ids: Sequence[int], now: float) -> dict[int, ItemRow]:
        """Live items by id (only these rows are read and decoded)."""
        out: dict[int, ItemRow] = {}
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_COLUMNS}, ns_id, (SELECT ns FROM namespaces n WHERE n.id = i.ns_id) "
                f"FROM items i WHERE id IN ({marks}) AND {_LIVE}",
                (*chunk, now),
            )
            for row in rows:
                found = self._row(namespace_of(self._names, int(row[6]), str(row[7])), row)
                out[found.id] = found
        return out

    def used(self, recalls: Mapping[int, float]) -> None:
        """Record when items were last recalled (item id -> time), for `evict`."""
        self.db.executemany(
            "UPDATE items SET used_at = ? WHERE id = ?", [(t, i) for i, t in recalls.items()]
        )

    def evict(self, namespace: tuple[str, ...], capacity: int) -> list[int]:
        """Delete the least recently used (recalled or written) items of `namespace` past
        `capacity`; return their ids."""
        ns_id = self._ns_id(namespace, create=False)
        (count,) = self.db.execute(
            "SELECT count(*) FROM items WHERE ns_id = ?", (ns_id,)
        ).fetchone()
        if count <= capacity:
            return []
        ids = [
            int(r[0])
            for r in self.db.execute(
                "SELECT id FROM items WHERE ns_id = ? ORDER BY coalesce(used_at, 0), id LIMIT ?",
                (ns_id, count - capacity),
            )
        ]
        self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        return ids

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: dict[str, Any],
        ttl: float | None,
        mark: str | None = None,
    ) -> tuple[int, bool]:
        """Insert or update, with the item's `index_mark`; return the item id and whether it
        existed (its vectors are the caller's to drop)."""
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
                "ttl_minutes, used_at, index_paths) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ns_id, key, text, now, now, expires, ttl, time.time(), mark),
            )
            return int(cursor.lastrowid or 0), False
        self.db.execute(
            "UPDATE items SET value = ?, updated_at = ?, expires_at = ?, ttl_minutes = ?, "
            "used_at = ?, index_paths = ? WHERE id = ?",
            (text, now, expires, ttl, time.time(), mark, row[0]),
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

    def marked(self, item_ids: Sequence[int]) -> dict[int, Marked]:
        """Item id -> (value, `index_paths` of its mark), for the vector repair."""
        found: dict[int, Marked] = {}
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, value, index_paths FROM items WHERE id IN ({marks})"
            for item_id, value, mark in self.db.execute(query, chunk):
                found[int(item_id)] = (json.loads(value), index_paths(mark))
        return found

    def count(self, table: str) -> int:
        """Rows in `items`, `vectors`, `pending` or `namespaces`."""
        assert table in ("items", "vectors", "pending", "namespaces")
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
