"""Which threads are running, the stops asked of them, and how a stopped run ended.

A run that may be stopped from outside (`copydesk stop THREAD`, the review page's Stop
button, another process or machine) needs a place every process that can reach the thread
can reach too: the checkpoint store. One table beside the checkpoints, `copydesk_runs`, holds
a row per thread that is running (its host, process and a heartbeat) or whose last run was
stopped (`stopped` or `timeout`, at which checkpoint). A finished run deletes its row, so
the table stays as small as the number of threads running or stopped.

`memory:` keeps the rows in the process; `sqlite:///...` in the checkpoint file (the
standard library's sqlite3, one short connection per call, off the event loop);
`postgresql://...` in the checkpoint database. Nothing is created until a run starts, so
reading commands write nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from copydesk.memory.checkpoint import sqlite_path

__all__ = ["RunRecord", "RunState", "RunTable", "open_run_table"]

RunState = Literal["running", "stopped", "timeout"]
_COLUMNS = "thread_id, state, host, pid, started_at, seen_at, stop_requested, checkpoint_id"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS copydesk_runs (
    thread_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL,
    stop_requested DOUBLE PRECISION,
    checkpoint_id TEXT NOT NULL DEFAULT ''
)
"""


@dataclass(frozen=True)
class RunRecord:
    """A thread's row: running now, or how its last run was stopped."""

    thread_id: str
    state: RunState
    host: str
    pid: int
    started_at: float
    seen_at: float
    """The running process's last heartbeat (seconds since the epoch)."""
    stop_requested: float | None = None
    """When a stop was asked (seconds since the epoch), None when none was."""
    checkpoint_id: str = ""
    """The checkpoint a stopped run ended at ("" while it runs)."""


class RunTable:
    """The rows in process memory (`memory:` checkpoints, or an injected checkpointer)."""

    def __init__(self) -> None:
        self._rows: dict[str, RunRecord] = {}

    async def started(self, thread_id: str, host: str, pid: int) -> None:
        """Record that this process runs `thread_id` now (any earlier row is replaced)."""
        now = time.time()
        await self._put(RunRecord(thread_id, "running", host, pid, now, now))

    async def beat(self, thread_ids: Collection[str]) -> set[str]:
        """Heartbeat for `thread_ids`; the ones among them a stop was asked of."""
        now = time.time()
        rows = await self._rows_of(thread_ids)
        for row in rows:
            await self._put(replace(row, seen_at=now))
        return {r.thread_id for r in rows if r.state == "running" and r.stop_requested}

    async def request_stop(self, thread_id: str) -> RunRecord | None:
        """Ask the run of `thread_id` to stop; its row as it was (None when it has none)."""
        rows = await self._rows_of([thread_id])
        if rows and rows[0].state == "running":
            await self._put(replace(rows[0], stop_requested=time.time()))
        return rows[0] if rows else None

    async def ended(self, thread_id: str, how: RunState | None, checkpoint_id: str = "") -> None:
        """The run is over: record how it was stopped at `checkpoint_id`, or (None) forget it."""
        rows = await self._rows_of([thread_id])
        if how is None:
            await self._delete(thread_id)
        elif rows:
            await self._put(replace(rows[0], state=how, checkpoint_id=checkpoint_id))

    async def get(self, thread_id: str) -> RunRecord | None:
        """The row of `thread_id`, if any."""
        rows = await self._rows_of([thread_id])
        return rows[0] if rows else None

    async def stopped(self) -> dict[str, RunRecord]:
        """Every thread whose last run was stopped, by id."""
        return {r.thread_id: r for r in await self._rows_of(None) if r.state != "running"}

    async def aclose(self) -> None:
        """Close what the table opened (nothing, in memory)."""

    async def _rows_of(self, thread_ids: Collection[str] | None) -> list[RunRecord]:
        if thread_ids is None:
            return list(self._rows.values())
        return [self._rows[t] for t in thread_ids if t in self._rows]

    async def _put(self, row: RunRecord) -> None:
        self._rows[row.thread_id] = row

    async def _delete(self, thread_id: str) -> None:
        self._rows.pop(thread_id, None)


def _record(row: Any) -> RunRecord:
    thread_id, state, host, pid, started, seen, stop, checkpoint = row
    return RunRecord(
        str(thread_id), state, str(host), int(pid), float(started), float(seen),
        None if stop is None else float(stop), str(checkpoint),
    )  # fmt: skip


class _SqlRunTable(RunTable):
    """The rows in a database: each change one statement, so a heartbeat never undoes a stop."""

    async def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        raise NotImplementedError  # pragma: no cover - each database defines it

    async def started(self, thread_id: str, host: str, pid: int) -> None:
        """Record that this process runs `thread_id` now (any earlier row is replaced)."""
        now = time.time()
        await self._execute(
            f"INSERT INTO copydesk_runs ({_COLUMNS}) VALUES (?, 'running', ?, ?, ?, ?, NULL, '') "
            "ON CONFLICT (thread_id) DO UPDATE SET state = 'running', host = excluded.host, "
            "pid = excluded.pid, started_at = excluded.started_at, seen_at = excluded.seen_at, "
            "stop_requested = NULL, checkpoint_id = ''",
            (thread_id, host, pid, now, now),
        )

    async def beat(self, thread_ids: Collection[str]) -> set[str]:
        """Heartbeat for `thread_ids`; the ones among them a stop was asked of."""
        ids = tuple(thread_ids)
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        await self._execute(
            f"UPDATE copydesk_runs SET seen_at = ? WHERE thread_id IN ({marks})",
            (time.time(), *ids),
        )
        rows = await self._execute(
            "SELECT thread_id FROM copydesk_runs WHERE state = 'running' AND stop_requested "
            f"IS NOT NULL AND thread_id IN ({marks})",
            ids,
        )
        return {str(row[0]) for row in rows}

    async def request_stop(self, thread_id: str) -> RunRecord | None:
        """Ask the run of `thread_id` to stop; its row as it was (None when it has none)."""
        before = await self.get(thread_id)
        await self._execute(
            "UPDATE copydesk_runs SET stop_requested = ? WHERE thread_id = ? AND state = 'running'",
            (time.time(), thread_id),
        )
        return before

    async def ended(self, thread_id: str, how: RunState | None, checkpoint_id: str = "") -> None:
        """The run is over: record how it was stopped at `checkpoint_id`, or (None) forget it."""
        if how is None:
            await self._execute("DELETE FROM copydesk_runs WHERE thread_id = ?", (thread_id,))
        else:
            await self._execute(
                "UPDATE copydesk_runs SET state = ?, checkpoint_id = ? WHERE thread_id = ?",
                (how, checkpoint_id, thread_id),
            )

    async def _rows_of(self, thread_ids: Collection[str] | None) -> list[RunRecord]:
        if thread_ids is None:
            return [
                _record(r) for r in await self._execute(f"SELECT {_COLUMNS} FROM copydesk_runs")
            ]
        ids = tuple(thread_ids)
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT {_COLUMNS} FROM copydesk_runs WHERE thread_id IN ({marks})"
        return [_record(r) for r in await self._execute(sql, ids)] if ids else []


class SqliteRunTable(_SqlRunTable):
    """The rows in the SQLite checkpoint file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        reading = sql.startswith("SELECT")
        if reading and not self.path.exists():
            return []
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if not reading:
                # No fsync for these rows: a row lost to a power cut only forgets that a run
                # was running or stopped (the thread itself is in its checkpoints), and a
                # synced write costs every run a few milliseconds more.
                connection.execute("PRAGMA synchronous = OFF")
                connection.execute(_SCHEMA)
            return connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []  # no run was ever started here
            raise
        finally:
            connection.close()

    async def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await asyncio.to_thread(self._run, sql, params)


class PostgresRunTable(_SqlRunTable):
    """The rows in the PostgreSQL checkpoint database (a connection opened on first use)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        import psycopg

        async with self._lock:  # one connection, one statement at a time
            if self._connection is None:
                self._connection = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, prepare_threshold=None
                )
                await self._connection.execute(_SCHEMA)
            cursor = await self._connection.execute(sql.replace("?", "%s"), params)
            return list(await cursor.fetchall()) if cursor.description else []

    async def aclose(self) -> None:
        """Close the connection, if one was opened."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def open_run_table(url: str) -> RunTable:
    """The run table beside the checkpoints `url` names (opened lazily: nothing yet)."""
    if url.startswith("sqlite:"):
        return SqliteRunTable(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresRunTable(url)
    return RunTable()
