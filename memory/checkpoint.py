"""Checkpointers from a URL, with strict deserialization.

`memory:` keeps checkpoints in the process (tests), `sqlite:///path` (the default, under
`COPYDESK_HOME`) in a local file, `postgresql://...` in PostgreSQL.

Deserialization is strict: LangGraph's default serializer revives any type a checkpoint row
names, so a crafted row in a shared database could make a reader import and call arbitrary
code. The serializer here only revives LangGraph's built-in allowlist of safe types (messages,
Send, datetimes, ...). State that needs other types must name them in `allowed`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from copydesk.memory._checked import checked
from copydesk.memory.errors import (
    DamagedStoreError,
    StoreError,
    StoreUnavailableError,
    unwritable,
)

if TYPE_CHECKING:  # LangGraph loads when a checkpointer is opened, not when this is imported
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

__all__ = [
    "CheckpointURLError",
    "check_sqlite_file",
    "move_aside_advice",
    "open_checkpointer",
    "safe_url",
    "sqlite_path",
    "strict_serializer",
]

_SQLITE_MAGIC = b"SQLite format 3\x00"


class CheckpointURLError(StoreError, ValueError):
    """A checkpoint URL that names no supported backend, or no file."""


def strict_serializer(allowed: Iterable[tuple[str, str]] = ()) -> JsonPlusSerializer:
    """A serializer that revives only LangGraph's safe types plus `allowed` (module, name)."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    extra = tuple(allowed)
    return JsonPlusSerializer(
        pickle_fallback=False,
        allowed_json_modules=None,
        allowed_msgpack_modules=extra or None,
    )


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///path` URL points at."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url[7:]
    if not path:
        raise CheckpointURLError(f"checkpoint URL {url!r} names no file; use sqlite:///path")
    return Path(path)


def safe_url(url: str) -> str:
    """`url` with its password replaced by `***`, fit to show in an error or a log line."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def move_aside_advice(path: Path) -> str:
    """How to get past a damaged checkpoint file at `path`."""
    return (
        f"restore it from a backup, or move it aside (mv {path} {path}.damaged) to start "
        "with no threads"
    )


def check_sqlite_file(path: Path) -> None:
    """Fail, before anything opens or writes it, when `path` cannot be a checkpoint database.

    A missing or empty file is fine (SQLite starts a new database). A directory, a file that is
    not SQLite, or one shorter than its header says (truncated) is reported with the fix.

    Raises:
        StoreError: `path` is a directory or cannot be read.
        DamagedStoreError: `path` is not a SQLite database, or is truncated.
    """
    try:
        if path.is_dir():
            raise StoreError(
                f"checkpoint database {path} is a directory; point COPYDESK_CHECKPOINT_URL "
                "(or COPYDESK_HOME) at a place for a file"
            )
        if not path.exists():
            return
        size = path.stat().st_size
        with path.open("rb") as file:
            header = file.read(100)
    except OSError as error:
        raise StoreError(
            f"cannot read checkpoint database {path}: {error.strerror}; fix its permissions "
            "or set COPYDESK_HOME to a folder you own"
        ) from None
    if size == 0:
        return
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise DamagedStoreError(
            f"checkpoint database {path} is not a SQLite database (damaged or overwritten); "
            + move_aside_advice(path)
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the page count is valid (SQLite >= 3.7.0)
    if page_size < 512 or (counted and size < pages * page_size):
        raise DamagedStoreError(
            f"checkpoint database {path} is truncated ({size} bytes, its header says "
            f"{pages * page_size}); " + move_aside_advice(path)
        )


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Open the checkpointer `url` names, and close it on exit.

    Args:
        url: `memory:`, `sqlite:///relative/or/absolute/path.sqlite` or `postgresql://...`.

    Raises:
        CheckpointURLError: The URL's scheme is not one of the above.
        StoreError: The SQLite file's folder cannot be created, or the file is a directory.
        DamagedStoreError: The database, or a checkpoint read from it, is damaged (also while
            the checkpointer is in use).
        StoreUnavailableError: The PostgreSQL server cannot be reached.
    """
    serde = strict_serializer()
    if url == "memory:" or url.startswith("memory://"):
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver(serde=serde)
    elif url.startswith("sqlite:"):
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = sqlite_path(url)
        await asyncio.to_thread(_prepare_sqlite, path)  # off the loop
        saver_kind = checked(
            AsyncSqliteSaver, f"checkpoint database {path}", move_aside_advice(path)
        )
        try:
            connection = await aiosqlite.connect(path)
        except sqlite3.OperationalError as error:
            raise unwritable("checkpoint database", path, error) from None
        try:
            saver: Any = saver_kind(connection, serde=serde)  # type: ignore[misc, arg-type]
            try:
                # A task of its own: setup's ALTER TABLE fails on every database it already
                # migrated (caught inside), and on Python 3.11 an exception thrown into
                # awaiting coroutines hides the rest of them from tracers such as coverage.
                await asyncio.create_task(saver.setup())
            except sqlite3.DatabaseError as error:
                if isinstance(error, sqlite3.OperationalError):
                    raise unwritable("checkpoint database", path, error) from None
                raise DamagedStoreError(
                    f"checkpoint database {path} is damaged ({error}); " + move_aside_advice(path)
                ) from error
            yield saver
        finally:
            await connection.close()
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError as error:  # pragma: no cover - the tests install the postgres extra
            raise CheckpointURLError(
                "PostgreSQL checkpoints need langgraph-checkpoint-postgres: "
                "pip install 'copydesk[postgres]'"
            ) from error
        import psycopg
        from psycopg.rows import dict_row

        shown = safe_url(url)
        kind = checked(
            AsyncPostgresSaver,
            f"checkpoint database {shown}",
            "restore it from a backup, or point COPYDESK_CHECKPOINT_URL at another database",
        )
        try:
            pg = await psycopg.AsyncConnection.connect(
                url, autocommit=True, prepare_threshold=0, row_factory=dict_row
            )
        except psycopg.OperationalError as error:
            reason = " ".join(str(error).split())
            password = urlsplit(url).password
            reason = reason.replace(password, "***") if password else reason
            raise StoreUnavailableError(
                f"checkpoint database {shown} is unreachable ({reason}); start PostgreSQL or "
                "fix COPYDESK_CHECKPOINT_URL, then run the command again"
            ) from None
        except psycopg.ProgrammingError:  # a URL libpq cannot parse (its message may quote it)
            raise CheckpointURLError(
                f"checkpoint URL {shown} is not valid; use postgresql://user@host:port/database"
            ) from None
        async with pg:
            postgres: Any = kind(conn=pg, serde=serde)  # type: ignore[call-arg]
            await postgres.setup()
            yield postgres
    else:
        raise CheckpointURLError(
            f"unknown checkpoint URL {url!r}; use memory:, sqlite:///path or postgresql://..."
        )


def _prepare_sqlite(path: Path) -> None:
    """Make the database's folder and check the file, before SQLite touches anything."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {path.parent} for checkpoints: {error.strerror}; set "
            "COPYDESK_HOME (or COPYDESK_CHECKPOINT_URL) to a writable folder"
        ) from None
    check_sqlite_file(path)
