"""The vector side of the PostgreSQL store: vectors by generation, the log of dropped vector
ids and the texts waiting for an embedding (the same calls as `copydesk.memory._rows.VectorRows`).

A worker's FAISS cache at generation `g` catches up with `changes_since(g)`: the vectors
written and the ids dropped by the batches after `g`, whichever process wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from copydesk.memory._rows import Pending

__all__ = ["PgVectorRows"]

_SET_LOG_FROM = (
    "INSERT INTO memory_meta (name, value) VALUES ('log_from', %s) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)


class PgVectorRows:
    """Vectors, dropped-vector log and pending texts, on the item table's connection.

    Args:
        db: The store's connection (autocommit; `PgItemTable` opens the transactions).
    """

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        self.db = db

    def log_from(self) -> int:
        """The oldest generation a cache may catch up from; older ones rebuild."""
        row = self.db.execute("SELECT value FROM memory_meta WHERE name = 'log_from'").fetchone()
        return int(row[0]) if row else 0

    def add(self, rows: Sequence[tuple[int, str, bytes]], gen: int) -> list[int]:
        """Insert (item id, path, float32 bytes) at generation `gen`; return the vector ids."""
        ids = []
        for item_id, path, blob in rows:
            row = self.db.execute(
                "INSERT INTO memory_vectors (item_id, path, vec, gen) VALUES (%s, %s, %s, %s) "
                "RETURNING id",
                (item_id, path, blob, gen),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
        return ids

    def drop(self, item_ids: Sequence[int], gen: int) -> list[int]:
        """Delete the vectors and pending texts of items; log and return the vector ids."""
        items = list(item_ids)
        dropped = [
            int(r[0])
            for r in self.db.execute(
                "DELETE FROM memory_vectors WHERE item_id = ANY(%s) RETURNING id", (items,)
            ).fetchall()
        ]
        self.db.execute("DELETE FROM memory_pending WHERE item_id = ANY(%s)", (items,))
        if dropped:
            self.db.execute(
                "INSERT INTO memory_dropped (vector_id, gen) SELECT unnest(%s::bigint[]), %s "
                "ON CONFLICT (vector_id) DO UPDATE SET gen = excluded.gen",
                (dropped, gen),
            )
        return dropped

    def changes_since(self, gen: int) -> tuple[list[tuple[int, bytes]], list[int]]:
        """Vectors added and vector ids dropped by the batches after generation `gen`."""
        added = self.db.execute(
            "SELECT id, vec FROM memory_vectors WHERE gen > %s ORDER BY id", (gen,)
        ).fetchall()
        dropped = self.db.execute(
            "SELECT vector_id FROM memory_dropped WHERE gen > %s", (gen,)
        ).fetchall()
        return [(int(i), bytes(b)) for i, b in added], [int(r[0]) for r in dropped]

    def trim_log(self, before: int) -> None:
        """Forget drops older than generation `before` (caches older than it rebuild)."""
        if before > self.log_from():
            self.db.execute("DELETE FROM memory_dropped WHERE gen < %s", (before,))
            self.db.execute(_SET_LOG_FROM, (str(before),))

    def of_items(self, item_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(vector id, item id) of items, in item then vector order."""
        rows = self.db.execute(
            "SELECT id, item_id FROM memory_vectors WHERE item_id = ANY(%s)", (list(item_ids),)
        ).fetchall()
        order = {item_id: n for n, item_id in enumerate(item_ids)}
        return sorted(((int(v), int(i)) for v, i in rows), key=lambda r: (order[r[1]], r[0]))

    def items_of(self, vector_ids: Sequence[int]) -> dict[int, int]:
        """Vector id -> item id, for vectors that still exist."""
        rows = self.db.execute(
            "SELECT id, item_id FROM memory_vectors WHERE id = ANY(%s)", (list(vector_ids),)
        ).fetchall()
        return {int(v): int(i) for v, i in rows}

    def blobs(self, vector_ids: Sequence[int]) -> dict[int, bytes]:
        """Vector id -> float32 bytes, for vectors that still exist."""
        rows = self.db.execute(
            "SELECT id, vec FROM memory_vectors WHERE id = ANY(%s)", (list(vector_ids),)
        ).fetchall()
        return {int(v): bytes(b) for v, b in rows}

    def all_vectors(self) -> Iterable[tuple[int, bytes]]:
        """Every (vector id, float32 bytes), for rebuilding the index (streamed)."""
        with (
            self.db.cursor(name="memory_all_vectors")
            if self._in_transaction()
            else (self.db.cursor()) as cursor
        ):
            cursor.execute("SELECT id, vec FROM memory_vectors ORDER BY id")
            for vector_id, blob in cursor:
                yield int(vector_id), bytes(blob)

    def _in_transaction(self) -> bool:
        return self.db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def all_ids(self) -> list[int]:
        """Every vector id."""
        return [int(r[0]) for r in self.db.execute("SELECT id FROM memory_vectors").fetchall()]

    def unvectored(self, dims: int) -> tuple[list[int], list[int]]:
        """Items whose vector rows have another length than `dims` floats, and items with
        neither a vector nor a text waiting for one that were not put with `index=False`."""
        damaged = self.db.execute(
            "SELECT DISTINCT item_id FROM memory_vectors WHERE length(vec) != %s", (dims * 4,)
        ).fetchall()
        bare = self.db.execute(
            "SELECT id FROM memory_items i WHERE coalesce(index_paths, '') != '[]' "
            "AND NOT EXISTS (SELECT 1 FROM memory_vectors WHERE item_id = i.id) "
            "AND NOT EXISTS (SELECT 1 FROM memory_pending WHERE item_id = i.id)"
        ).fetchall()
        return [int(r[0]) for r in damaged], [int(r[0]) for r in bare]

    def wait(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Queue (item id, path, text) for embedding."""
        if rows:
            with self.db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO memory_pending (item_id, path, text) VALUES (%s, %s, %s)", rows
                )

    def waiting(self, limit: int) -> list[Pending]:
        """The oldest `limit` texts waiting for an embedding."""
        rows = self.db.execute(
            "SELECT id, item_id, path, text FROM memory_pending ORDER BY id LIMIT %s", (limit,)
        ).fetchall()
        return [(int(p), int(i), str(path), str(t)) for p, i, path, t in rows]

    def settle(self, pending_ids: Sequence[int]) -> list[Pending]:
        """Remove pending rows that got their vector; return those that were still there."""
        rows = self.db.execute(
            "DELETE FROM memory_pending WHERE id = ANY(%s) RETURNING id, item_id, path, text",
            (list(pending_ids),),
        ).fetchall()
        return sorted((int(p), int(i), str(path), str(t)) for p, i, path, t in rows)
