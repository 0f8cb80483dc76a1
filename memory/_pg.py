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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from langgraph.store.base import Item

from copydesk.memory._items import ItemRow

__all__ = ["PgItemTable", "clear"]

_WRITE_LOCK = 7_344_202  # advisory lock: one writing batch at a time, across processes
_SCHEMA_LOCK = 7_344_203
_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS memory_namespaces (id bigserial PRIMARY KEY, ns text UNIQUE);
CREATE TABLE IF NOT EXISTS memory_items (
    id bigserial PRIMARY KEY, ns_id bigint NOT NULL, key text NOT NULL, value text NOT NULL,
    created_at text NOT NULL, updated_at text NOT NULL, expires_at double precision,
    ttl_minutes double precision, UNIQUE (ns_id, key));
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
_COLUMNS = "value, key, created_at, updated_at, id, ttl_minutes"
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

    def namespaces(self) -> list[tuple[int, tuple[str, ...]]]:
        """Every namespace ever written to, in first-write order."""
        rows = self.db.execute("SELECT id, ns FROM memory_namespaces ORDER BY id").fetchall()
        if len(rows) != len(self._names):  # namespaces are only ever added
            self._names = {int(i): tuple(json.loads(ns)) for i, ns in rows}
        return list(self._names.items())

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
            f"SELECT {_COLUMNS} FROM memory_items WHERE ns_id = %s AND key = %s "
            "AND (expires_at IS NULL OR expires_at > %s)",
            (ns_id, key, now),
        ).fetchone()
        return None if row is None else self._row(namespace, row)

    def under(self, prefix: tuple[str, ...], now: float) -> Iterable[ItemRow]:
        """Live items whose namespace starts with `prefix`, namespace then insertion order."""
        for ns_id, namespace in self.namespaces():
            if namespace[: len(prefix)] != prefix:
                continue
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM memory_items WHERE ns_id = %s "
                "AND (expires_at IS NULL OR expires_at > %s) ORDER BY id",
                (ns_id, now),
            ).fetchall()
            for row in rows:
                yield self._row(namespace, row)

    def by_ids(self, item_ids: Sequence[int], now: float) -> dict[int, ItemRow]:
        """Live items by id."""
        names = dict(self.namespaces())
        rows = self.db.execute(
            f"SELECT {_COLUMNS}, ns_id FROM memory_items WHERE id = ANY(%s) "
            "AND (expires_at IS NULL OR expires_at > %s)",
            (list(item_ids), now),
        ).fetchall()
        found = [self._row(names[int(row[6])], row) for row in rows]
        return {row.id: row for row in found}

    def put(
        self, namespace: tuple[str, ...], key: str, value: dict[str, Any], ttl: float | None
    ) -> tuple[int, bool]:
        """Insert or update; return the item id and whether it existed."""
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
                "expires_at, ttl_minutes) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (ns_id, key, text, now, now, expires, ttl),
            ).fetchone()
            assert inserted is not None
            return int(inserted[0]), False
        self.db.execute(
            "UPDATE memory_items SET value = %s, updated_at = %s, expires_at = %s, "
            "ttl_minutes = %s WHERE id = %s",
            (text, now, expires, ttl, row[0]),
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
