"""The PostgreSQL form of `FaissStore`'s tables: items, namespaces, meta, vectors, the log of
dropped vectors and the texts waiting for an embedding, shared by every worker.

`PgItemTable` and `PgVectorRows` answer the same calls as the SQLite `ItemTable` and
`VectorRows`, so `FaissStore` runs unchanged on either: PostgreSQL is the source of truth,
each process's FAISS index is a cache that catches up by generation (`changes_since`).
Reads run in one REPEATABLE READ transaction (one snapshot, as SQLite's read transaction);
writes take a transaction-scoped advisory lock first, so batches commit one at a time, in
generation order, from any number of processes (as SQLite's `BEGIN IMMEDIATE`).

`psycopg` is imported here only: a store without `COPYDESK_STORE_URL` never loads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from langgraph.store.base import Item

from copydesk.memory._items import ItemRow, Marked, index_paths, namespace_of
from copydesk.memory._select import filter_sql, ns_sql

__all__ = ["PgItemTable", "clear"]

_WRITE_LOCK = 7_344_202  # advisory lock: one writing batch at a time, across processes
_SCHEMA_LOCK = 7_344_203
_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS memory_namespaces (id bigserial PRIMARY KEY, ns text UNIQUE);
CREATE TABLE IF NOT EXISTS memory_items (
    id bigserial PRIMARY KEY, ns_id bigint NOT NULL, key text NOT NULL, value text NOT NULL,
    created_at text NOT NULL, updated_at text NOT NULL, expires_at double precision,
    ttl_minutes double precision, used_at double precision, UNIQUE (ns_id, key));
ALTER TABLE memory_items ADD COLUMN IF NOT EXISTS used_at double precision;
ALTER TABLE memory_items ADD COLUMN IF NOT EXISTS index_paths text;
CREATE INDEX IF NOT EXISTS memory_namespaces_bytes ON memory_namespaces (ns COLLATE "C");
CREATE INDEX IF NOT EXISTS memory_items_expiry ON memory_items (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS memory_vectors (
    id bigserial PRIMARY KEY, item_id bigint NOT NULL, path text NOT NULL, vec bytea NOT NULL,
    gen bigint NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS memory_vectors_item ON memory_vectors (item_id);
CREATE INDEX IF NOT EXISTS memory_vectors_gen ON memory_vectors (gen);
CREATE TABLE IF NOT EXISTS memory_dropped (vector_id bigint PRIMARY KEY, gen bigint NOT NULL);
CREATE INDEX IF NOT EXISTS memory_dropped_gen ON memory_dropped (gen);
CREATE TABLE IF NOT EXISTS memory_pending (
    id bigserial PRIMARY KEY, item_id bigint NOT NULL, path text NOT NULL, text text NOT NULL);
CREATE INDEX IF NOT EXISTS memory_pending_item ON memory_pending (item_id);
"""
_COLUMNS = "i.value, i.key, i.created_at, i.updated_at, i.id, i.ttl_minutes"
_LIVE = "(i.expires_at IS NULL OR i.expires_at > ?)"
_TABLES = ("items", "vectors", "pending", "namespaces")
_SET_META = (
    "INSERT INTO memory_meta (name, value) VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)


class PgItemTable:
    """Items, namespaces and meta in PostgreSQL, and the connection the vector side shares.

    Args:
        url: `postgresql://...` (its `search_path` picks the schema).
    """

    def __init__(self, url: str) -> None:
        self.db: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self.db.execute(_SCHEMA)
        self._names: dict[int, tuple[str, ...]] = {}

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction: one snapshot for everything read inside it."""
        self.db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction, after every other process's writing batch has committed."""
        self.db.execute("BEGIN")
        try:
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def meta(self, name: str) -> str | None:
        """A value of the meta table."""
        row = self.db.execute("SELECT value FROM memory_meta WHERE name = %s", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, **values: str) -> None:
        """Set meta values."""
        with self.db.cursor() as cursor:
            cursor.executemany(_SET_META, list(values.items()))

    def generation(self) -> int:
        """The number of committed batches that changed items or vectors."""
        return int(self.meta("generation") or 0)

    def live_namespaces(self, now: float) -> list[tuple[str, ...]]:
        """Namespaces holding at least one unexpired item."""
        rows = self.db.execute(
            "SELECT DISTINCT n.ns FROM memory_items i JOIN memory_namespaces n ON n.id = i.ns_id "
            "WHERE i.expires_at IS NULL OR i.expires_at > %s",
            (now,),
        ).fetchall()
        return [tuple(json.loads(ns)) for (ns,) in rows]

    def _ns_id(self, namespace: tuple[str, ...], create: bool) -> int | None:
        text = json.dumps(list(namespace))
        row = self.db.execute("SELECT id FROM memory_namespaces WHERE ns = %s", (text,)).fetchone()
        if row is None and create:
            row = self.db.execute(
                "INSERT INTO memory_namespaces (ns) VALUES (%s) RETURNING id", (text,)
            ).fetchone()
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
            f"SELECT {_COLUMNS} FROM memory_items i WHERE ns_id = %s AND key = %s "
            "AND (expires_at IS NULL OR expires_at > %s)",
            (ns_id, key, now),
        ).fetchone()
        return None if row is None else self._row(namespace, row)

    def candidates(
        self, prefix: tuple[str, ...], now: float, where: Mapping[str, Any] | None
    ) -> Any:
        """(item id, vector id or -1) rows, an int64 array, of the live items under `prefix`
        that may match `where`, in namespace, item then vector order; reads ids only, through
        the indexes."""
        names, names_args = ns_sql(prefix, collate=' COLLATE "C"')
        pushed, pushed_args = filter_sql(where, "(i.value::jsonb ->> '{key}')", numbers=False)
        rows = self.db.execute(
            "SELECT i.id, coalesce(v.id, -1) FROM memory_namespaces n "
            "JOIN memory_items i ON i.ns_id = n.id LEFT JOIN memory_vectors v ON v.item_id = i.id "
            f"WHERE {names} AND {_LIVE} "
            f"AND {pushed} ORDER BY n.id, i.id, v.id".replace("?", "%s"),
            (*names_args, now, *pushed_args),
        ).fetchall()
        return np.array(rows, np.int64).reshape(-1, 2)

    def by_ids(self, item_ids: Sequence[int], now: float) -> dict[int, ItemRow]:
        """Live items by id (only these rows are read and decoded)."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS}, i.ns_id, n.ns FROM memory_items i JOIN memory_namespaces n "
            f"ON n.id = i.ns_id WHERE i.id = ANY(%s) AND {_LIVE}".replace("?", "%s"),
            (list(item_ids), now),
        ).fetchall()
        names = self._names
        found = [self._row(namespace_of(names, int(row[6]), str(row[7])), row) for row in rows]
        return {row.id: row for row in found}

    def used(self, recalls: Mapping[int, float]) -> None:
        """Record when items were last recalled (item id -> time), for `evict`."""
        with self.db.cursor() as cursor:
            cursor.executemany(
                "UPDATE memory_items SET used_at = %s WHERE id = %s",
                [(t, i) for i, t in recalls.items()],
            )

    def evict(self, namespace: tuple[str, ...], capacity: int) -> list[int]:
        """Delete the least recently used (recalled or written) items of `namespace` past
        `capacity`; return their ids."""
        ns_id = self._ns_id(namespace, create=False)
        row = self.db.execute(
            "SELECT count(*) FROM memory_items WHERE ns_id = %s", (ns_id,)
        ).fetchone()
        excess = int(row[0]) - capacity if row else 0
        if excess <= 0:
            return []
        rows = self.db.execute(
            "DELETE FROM memory_items WHERE id IN (SELECT id FROM memory_items WHERE ns_id = %s "
            "ORDER BY coalesce(used_at, 0), id LIMIT %s) RETURNING id",
            (ns_id, excess),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: dict[str, Any],
        ttl: float | None,
        mark: str | None = None,
    ) -> tuple[int, bool]:
        """Insert or update, with the item's `index_mark`; return the item id and whether it
        existed."""
        ns_id = self._ns_id(namespace, create=True)
        now = datetime.now(UTC).isoformat()
        expires = time.time() + ttl * 60 if ttl is not None else None
        text = json.dumps(value, ensure_ascii=False)
        row = self.db.execute(
            "SELECT id FROM memory_items WHERE ns_id = %s AND key = %s", (ns_id, key)
        ).fetchone()
        if row is None:
            inserted = self.db.execute(
                "INSERT INTO memory_items (ns_id, key, value, created_at, updated_at, "
                "expires_at, ttl_minutes, used_at, index_paths) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (ns_id, key, text, now, now, expires, ttl, time.time(), mark),
            ).fetchone()
            assert inserted is not None
            return int(inserted[0]), False
        self.db.execute(
            "UPDATE memory_items SET value = %s, updated_at = %s, expires_at = %s, "
            "ttl_minutes = %s, used_at = %s, index_paths = %s WHERE id = %s",
            (text, now, expires, ttl, time.time(), mark, row[0]),
        )
        return int(row[0]), True

    def delete(self, namespace: tuple[str, ...], key: str) -> int | None:
        """Delete an item; return its id (None when there was none)."""
        ns_id = self._ns_id(namespace, create=False)
        row = self.db.execute(
            "DELETE FROM memory_items WHERE ns_id = %s AND key = %s RETURNING id", (ns_id, key)
        ).fetchone()
        return None if row is None else int(row[0])

    def refresh(self, item_ids: Sequence[int]) -> None:
        """Restart the TTL of items that have one."""
        self.db.execute(
            "UPDATE memory_items SET expires_at = %s + ttl_minutes * 60 WHERE id = ANY(%s) "
            "AND ttl_minutes IS NOT NULL",
            (time.time(), list(item_ids)),
        )

    def expired(self, now: float) -> list[int]:
        """Delete expired items; return their ids."""
        rows = self.db.execute(
            "DELETE FROM memory_items WHERE expires_at IS NOT NULL AND expires_at <= %s "
            "RETURNING id",
            (now,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def marked(self, item_ids: Sequence[int]) -> dict[int, Marked]:
        """Item id -> (value, `index_paths` of its mark), for the vector repair."""
        rows = self.db.execute(
            "SELECT id, value, index_paths FROM memory_items WHERE id = ANY(%s)", (list(item_ids),)
        ).fetchall()
        return {int(i): (json.loads(v), index_paths(m)) for i, v, m in rows}

    def count(self, table: str) -> int:
        """Rows in `items`, `vectors`, `pending` or `namespaces`."""
        assert table in _TABLES
        row = self.db.execute(f"SELECT count(*) FROM memory_{table}").fetchone()
        return int(row[0]) if row else 0


def clear(url: str) -> None:
    """Delete every memory (all rows of the store's tables), as `memory forget --all`."""
    with PgItemTable(url).db as db, db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        db.execute(
            "TRUNCATE memory_meta, memory_namespaces, memory_items, memory_vectors, "
            "memory_dropped, memory_pending RESTART IDENTITY"
        )
