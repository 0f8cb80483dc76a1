"""Each thread's latest checkpoint in a SQLite checkpoint file, read without LangGraph.

`copydesk threads` needs a few plain values per thread (topic, round, status, the graph's
name). Opening the checkpointer to get them imports LangGraph's serializer, which imports
langchain_core's messages and runnables: about 0.3 s of CPU on an idle machine, more than the
rest of the command. The rows are read here with the standard library's sqlite3 in one query
(the newest checkpoint of each thread and whether it waits on an interrupt), and each
checkpoint's msgpack is decoded with every extension type (messages, models, ...) left out as
None: nothing is revived, so nothing a row names is imported or called.

Rows in a form this reader does not know (another serializer's type tag, a table layout from
another LangGraph version) make it return None, and the caller reads them through LangGraph.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copydesk.memory.checkpoint import check_sqlite_file, move_aside_advice
from copydesk.memory.errors import DamagedStoreError, StoreError, unwritable, why_unwritable

__all__ = ["LatestCheckpoint", "latest_sqlite_checkpoints"]

# The newest root-graph checkpoint of each thread (checkpoint ids sort by time), and whether an
# interrupt was written against it (the thread waits for review).
_LATEST = """
SELECT c.thread_id, c.type, c.checkpoint, c.metadata,
       EXISTS (SELECT 1 FROM writes w
               WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = ''
                 AND w.checkpoint_id = c.checkpoint_id AND w.channel = '__interrupt__')
FROM checkpoints c
WHERE c.checkpoint_ns = ''
  AND c.checkpoint_id = (SELECT max(checkpoint_id) FROM checkpoints
                         WHERE thread_id = c.thread_id AND checkpoint_ns = '')
"""


@dataclass(frozen=True)
class LatestCheckpoint:
    """A thread's newest checkpoint: its plain channel values, metadata and time."""

    thread_id: str
    values: dict[str, Any]
    """Channel values; anything stored as an extension type (a message, a model) is None."""
    metadata: dict[str, Any]
    ts: str
    paused: bool
    """An interrupt is pending: the thread waits for a human."""
    checkpoint_id: str = ""


def latest_sqlite_checkpoints(path: Path) -> list[LatestCheckpoint] | None:
    """The newest checkpoint of every thread in the SQLite file at `path`.

    Returns:
        One entry per thread (no order); [] when the file or its tables do not exist yet;
        None when a row is stored in a form this reader does not decode.

    Raises:
        StoreError: The file is a directory or cannot be read.
        DamagedStoreError: The file is not a SQLite database, or is damaged.
    """
    check_sqlite_file(path)
    if not path.exists():
        return []
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(_LATEST).fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []  # a database no checkpoint was written to yet
        if "no such column" in str(error):
            return None
        if why_unwritable(path):  # SQLite writes beside a database it reads (its WAL)
            raise unwritable("checkpoint database", path, error) from None
        raise StoreError(
            f"cannot read checkpoint database {path}: {error}; check the file is readable, "
            "or set COPYDESK_HOME to a folder you own"
        ) from None
    except sqlite3.DatabaseError as error:
        raise DamagedStoreError(
            f"checkpoint database {path} is damaged ({error}); " + move_aside_advice(path)
        ) from None
    out = []
    for thread_id, kind, blob, metadata, paused in rows:
        checkpoint = _decode(kind, blob)
        if checkpoint is None:
            return None
        try:
            meta = json.loads(metadata) if metadata else {}
        except ValueError:
            return None
        values = checkpoint.get("channel_values")
        out.append(
            LatestCheckpoint(
                thread_id=str(thread_id),
                values=values if isinstance(values, dict) else {},
                metadata=meta if isinstance(meta, dict) else {},
                ts=str(checkpoint.get("ts", "")),
                paused=bool(paused),
                checkpoint_id=str(checkpoint.get("id", "")),
            )
        )
    return out


def _decode(kind: object, blob: object) -> dict[str, Any] | None:
    """A msgpack checkpoint with extension types left out, or None for any other form."""
    import ormsgpack  # LangGraph's own msgpack library, already installed with it

    if kind != "msgpack" or not isinstance(blob, bytes):
        return None
    try:
        value = ormsgpack.unpackb(blob, ext_hook=_no_extension)
    except (ormsgpack.MsgpackDecodeError, ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _no_extension(code: int, data: bytes) -> None:
    """Every extension type decodes to None: nothing a row names is revived."""
