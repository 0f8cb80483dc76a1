"""`Backlog`: this process's view of the texts waiting for an embedding, and which of them a
batch in flight is embedding now (so two concurrent batches never send the same text)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from copydesk.memory._rows import Pending

__all__ = ["Backlog"]


class Backlog:
    """The oldest waiting texts as last read from the store, and the ones claimed.

    Args:
        size: Waiting texts read at most (older ones come once these are embedded).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._rows: list[Pending] = []
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def refresh(self, rows: Sequence[Pending]) -> None:
        """Replace the view with `rows`, as just read from the store."""
        with self._lock:
            self._rows = list(rows)

    def claim(self) -> list[Pending]:
        """Every waiting text no other batch is embedding, now held by the caller."""
        with self._lock:
            rows = [r for r in self._rows if r[0] not in self._held]
            self._held.update(r[0] for r in rows)
            return rows

    def release(self, rows: Sequence[Pending]) -> None:
        """Give claimed texts back (embedded and stored, or failed: they wait again)."""
        with self._lock:
            self._held.difference_update(r[0] for r in rows)

    def settled(self, rows: Sequence[Pending]) -> None:
        """Drop texts whose vectors are stored."""
        done = {r[0] for r in rows}
        with self._lock:
            self._rows = [r for r in self._rows if r[0] not in done]
