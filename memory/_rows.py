"""The vector side of `FaissStore`'s SQLite database: vectors, the log of dropped ones, and
texts waiting for their embedding.

Every vector row records the generation (`ItemTable.generation`) of the batch that wrote it,
and every dropped vector id is logged with the generation that dropped it, so a process whose
FAISS cache reflects generation `g` catches up by reading only what changed after `g`
(`changes_since`) instead of every vector. The log is trimmed (`trim_log`); a cache older
than `log_from` rebuilds from `all_vectors`.

A text whose embedding has not arrived yet (it is deferred to the next embedding request, or
that request failed) waits in `pending`, keyed by item and path: the item is stored, and
searchable (without a score) at once, and gets its vector when an embedding lands.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

__all__ = ["Pending", "VectorRows"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER NOT NULL, path TEXT NOT NULL,
    vec BLOB NOT NULL, gen INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS vectors_item ON vectors (item_id);
CREATE TABLE IF NOT EXISTS dropped (vector_id INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dropped_gen ON dropped (gen);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER NOT NULL, path TEXT NOT NULL,
    text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pending_item ON pending (item_id);
"""

Pending = tuple[int, int, str, str]
"""(pending id, item id, path, text)."""


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class VectorRows:
    """Vectors, dropped-vector log and pending texts, on the item table's connection.

    Args:
        db: The store's connection (autocommit; the caller opens transactions).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.db.executescript(_SCHEMA)
        columns = {str(r[1]) for r in self.db.execute("PRAGMA table_info(vectors)")}
        if "gen" not in columns:  # a store written before the change log: migrate once
            self.db.execute("BEGIN IMMEDIATE")
            try:
                columns = {str(r[1]) for r in self.db.execute("PRAGMA table_info(vectors)")}
                if "gen" not in columns:
                    self.db.execute("ALTER TABLE vectors ADD COLUMN gen INTEGER NOT NULL DEFAULT 0")
                    row = self.db.execute(
                        "SELECT value FROM meta WHERE name = 'generation'"
                    ).fetchone()
                    self.db.execute(
                        "INSERT OR REPLACE INTO meta (name, value) VALUES ('log_from', ?)",
                        (str(int(row[0]) if row else 0),),
                    )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        self.db.execute("CREATE INDEX IF NOT EXISTS vectors_gen ON vectors (gen)")

    def log_from(self) -> int:
        """The oldest generation a cache may catch up from; older ones rebuild."""
        row = self.db.execute("SELECT value FROM meta WHERE name = 'log_from'").fetchone()
        return int(row[0]) if row else 0

    def add(self, rows: Sequence[tuple[int, str, bytes]], gen: int) -> list[int]:
        """Insert (item id, path, float32 bytes) at generation `gen`; return the vector ids."""
        ids = []
        for item_id, path, blob in rows:
            cursor = self.db.execute(
                "INSERT INTO vectors (item_id, path, vec, gen) VALUES (?, ?, ?, ?)",
                (item_id, path, blob, gen),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def drop(self, item_ids: Sequence[int], gen: int) -> list[int]:
        """Delete the vectors and pending texts of items; log and return the vector ids."""
        dropped: list[int] = []
        for chunk in _chunks(item_ids):
            marks = ",".join("?" * len(chunk))
            dropped += [
                int(r[0])
                for r in self.db.execute(
                    f"SELECT id FROM vectors WHERE item_id IN ({marks})", chunk
                )
            ]
            self.db.execute(f"DELETE FROM vectors WHERE item_id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM pending WHERE item_id IN ({marks})", chunk)
        self.db.executemany(
            "INSERT OR REPLACE INTO dropped (vector_id, gen) VALUES (?, ?)",
            [(v, gen) for v in dropped],
        )
        return dropped

    def changes_since(self, gen: int) -> tuple[list[tuple[int, bytes]], list[int]]:
        """Vectors added and vector ids dropped by the batches after generation `gen`."""
        added = self.db.execute(
            "SELECT id, vec FROM vectors WHERE gen > ? ORDER BY id", (gen,)
        ).fetchall()
        dropped = [
            int(r[0])
            for r in self.db.execute("SELECT vector_id FROM dropped WHERE gen > ?", (gen,))
        ]
        return [(int(i), bytes(b)) for i, b in added], dropped

    def trim_log(self, before: int) -> None:
        """Forget drops older than generation `before` (caches older than it rebuild)."""
        if before > self.log_from():
            self.db.execute("DELETE FROM dropped WHERE gen < ?", (before,))
            self.db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('log_from', ?)", (str(before),)
            )

    def of_items(self, item_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(vector id, item id) of items, in item then vector order."""
        out: list[tuple[int, int]] = []
        for chunk in _chunks(item_ids):
            marks = ",".join("?" * len(chunk))
            out += self.db.execute(
                f"SELECT id, item_id FROM vectors WHERE item_id IN ({marks})", chunk
            ).fetchall()
        order = {item_id: n for n, item_id in enumerate(item_ids)}
        return sorted(out, key=lambda r: (order[r[1]], r[0]))

    def items_of(self, vector_ids: Sequence[int]) -> dict[int, int]:
        """Vector id -> item id, for vectors that still exist."""
        out: dict[int, int] = {}
        for chunk in _chunks(vector_ids):
            marks = ",".join("?" * len(chunk))
            out.update(
                self.db.execute(f"SELECT id, item_id FROM vectors WHERE id IN ({marks})", chunk)
            )
        return out

    def blobs(self, vector_ids: Sequence[int]) -> dict[int, bytes]:
        """Vector id -> float32 bytes, for vectors that still exist."""
        out: dict[int, bytes] = {}
        for chunk in _chunks(vector_ids):
            marks = ",".join("?" * len(chunk))
            for vector_id, blob in self.db.execute(
                f"SELECT id, vec FROM vectors WHERE id IN ({marks})", chunk
            ):
                out[int(vector_id)] = bytes(blob)
        return out

    def all_vectors(self) -> Iterable[tuple[int, bytes]]:
        """Every (vector id, float32 bytes), for rebuilding the index."""
        yield from self.db.execute("SELECT id, vec FROM vectors ORDER BY id")

    def all_ids(self) -> list[int]:
        """Every vector id."""
        return [int(r[0]) for r in self.db.execute("SELECT id FROM vectors")]

    def unvectored(self, dims: int) -> tuple[list[int], list[int]]:
        """Items whose vector rows have another length than `dims` floats, and items with
        neither a vector nor a text waiting for one that were not put with `index=False`."""
        damaged = self.db.execute(
            "SELECT DISTINCT item_id FROM vectors WHERE length(vec) != ?", (dims * 4,)
        )
        bare = self.db.execute(
            "SELECT id FROM items WHERE coalesce(index_paths, '') != '[]' "
            "AND NOT EXISTS (SELECT 1 FROM vectors WHERE item_id = items.id) "
            "AND NOT EXISTS (SELECT 1 FROM pending WHERE item_id = items.id)"
        )
        return [int(r[0]) for r in damaged], [int(r[0]) for r in bare]

    def wait(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Queue (item id, path, text) for embedding."""
        self.db.executemany("INSERT INTO pending (item_id, path, text) VALUES (?, ?, ?)", rows)

    def waiting(self, limit: int) -> list[Pending]:
        """The oldest `limit` texts waiting for an embedding."""
        rows = self.db.execute(
            "SELECT id, item_id, path, text FROM pending ORDER BY id LIMIT ?", (limit,)
        )
        return [(int(p), int(i), str(path), str(t)) for p, i, path, t in rows]

    def settle(self, pending_ids: Sequence[int]) -> list[Pending]:
        """Remove pending rows that got their vector; return those that were still there."""
        found: list[Pending] = []
        for chunk in _chunks(pending_ids):
            marks = ",".join("?" * len(chunk))
            found += [
                (int(p), int(i), str(path), str(t))
                for p, i, path, t in self.db.execute(
                    f"SELECT id, item_id, path, text FROM pending WHERE id IN ({marks})", chunk
                )
            ]
            self.db.execute(f"DELETE FROM pending WHERE id IN ({marks})", chunk)
        return found
