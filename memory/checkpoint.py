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
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # LangGraph loads when a checkpointer is opened, not when this is imported
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

__all__ = ["CheckpointURLError", "open_checkpointer", "strict_serializer"]


class CheckpointURLError(ValueError):
    """A checkpoint URL that names no supported backend."""


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


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Open the checkpointer `url` names, and close it on exit.

    Args:
        url: `memory:`, `sqlite:///relative/or/absolute/path.sqlite` or `postgresql://...`.

    Raises:
        CheckpointURLError: The URL's scheme is not one of the above.
    """
    serde = strict_serializer()
    if url == "memory:" or url.startswith("memory://"):
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver(serde=serde)
    elif url.startswith("sqlite:"):
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = sqlite_path(url)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)  # off the loop
        async with aiosqlite.connect(path) as connection:
            saver = AsyncSqliteSaver(connection, serde=serde)
            await saver.setup()
            yield saver
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError as error:
            raise CheckpointURLError(
                "PostgreSQL checkpoints need langgraph-checkpoint-postgres: "
                "pip install 'copydesk[postgres]'"
            ) from error
        async with AsyncPostgresSaver.from_conn_string(url, serde=serde) as postgres:
            await postgres.setup()
            yield postgres
    else:
        raise CheckpointURLError(
            f"unknown checkpoint URL {url!r}; use memory:, sqlite:///path or postgresql://..."
        )
