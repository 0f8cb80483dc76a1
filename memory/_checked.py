"""Checkpointers that report a damaged database as one `DamagedStoreError` naming it.

LangGraph's savers surface damage as whatever broke first: `sqlite3.DatabaseError` for a
damaged file, `NotImplementedError` for a row naming an unknown serialization type, a
`TypeError` deep in LangGraph for a row that decodes to something other than a checkpoint.
The savers here check what they read and turn each of those into one error that says which
database, which row and what to do. Nothing is written after a damaged read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from copydesk.memory.errors import DamagedStoreError

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

__all__ = ["checked"]

# What a damaged row or file raises while it is read: SQLite's "malformed" and "not a
# database" (but not OperationalError: a lock or a full disk is not damage), the serializer's
# unknown type, and the decoding errors of msgpack and JSON (ValueError and its subclasses).
_READ_DAMAGE = (NotImplementedError, ValueError, TypeError, KeyError, IndexError)


def _is_damage(error: BaseException, *, reading: bool) -> bool:
    if isinstance(error, sqlite3.DatabaseError):
        return not isinstance(error, sqlite3.OperationalError)
    return reading and isinstance(error, _READ_DAMAGE)


def _shape_problem(item: CheckpointTuple) -> str | None:
    """What is wrong with a checkpoint as read, or None if it has a checkpoint's shape."""
    checkpoint: Any = item.checkpoint
    if not isinstance(checkpoint, Mapping):
        return f"holds {type(checkpoint).__name__!r} data, not a checkpoint"
    for key, kind in (("id", str), ("channel_values", Mapping), ("channel_versions", Mapping)):
        if not isinstance(checkpoint.get(key), kind):
            return f"has no valid {key!r}"
    if not isinstance(item.metadata, Mapping):
        return "has metadata that is not a mapping"
    return None


class _Checked:
    """Mixin over a LangGraph saver: reads are checked, damage becomes `DamagedStoreError`."""

    location: str = "the checkpoint database"
    fix: str = "restore it from a backup"

    def _damaged(self, what: str, detail: str) -> DamagedStoreError:
        return DamagedStoreError(f"{self.location} is damaged: {what} ({detail}); {self.fix}")

    def _check(self, item: CheckpointTuple | None) -> CheckpointTuple | None:
        if item is not None:
            problem = _shape_problem(item)
            if problem is not None:
                conf = item.config.get("configurable", {})
                raise self._damaged(
                    f"checkpoint {conf.get('checkpoint_id')} of thread {conf.get('thread_id')!r}",
                    problem,
                )
        return item

    def _wrap(self, error: BaseException, *, reading: bool) -> BaseException:
        if not _is_damage(error, reading=reading):
            return error
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return self._damaged("a row cannot be read", detail)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        try:
            found = await super().aget_tuple(config)  # type: ignore[misc]
        except Exception as error:
            raise self._wrap(error, reading=True) from error
        return self._check(found)

    async def alist(self, config: RunnableConfig | None, **options: Any) -> AsyncIterator[Any]:
        inner = super().alist(config, **options)  # type: ignore[misc]
        try:
            async for item in inner:
                yield self._check(item)
        except DamagedStoreError:
            raise
        except Exception as error:
            raise self._wrap(error, reading=True) from error
        finally:
            await inner.aclose()  # its cursor closes now, while the connection is open

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Any:
        try:
            return await super().aget_delta_channel_history(  # type: ignore[misc]
                config=config, channels=channels
            )
        except Exception as error:
            raise self._wrap(error, reading=True) from error

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().aput(*args, **kwargs)  # type: ignore[misc]
        except Exception as error:
            raise self._wrap(error, reading=False) from error

    async def aput_writes(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().aput_writes(*args, **kwargs)  # type: ignore[misc]
        except Exception as error:
            raise self._wrap(error, reading=False) from error


def checked(
    kind: type[BaseCheckpointSaver[str]], location: str, fix: str
) -> type[BaseCheckpointSaver[str]]:
    """`kind` with checked reads, naming `location` and suggesting `fix` on damage."""
    return type(f"Checked{kind.__name__}", (_Checked, kind), {"location": location, "fix": fix})
