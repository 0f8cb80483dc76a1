"""One PostgreSQL connection per worker process: the job table, and a lock per thread.

`ThreadLocks.hold(thread_id)` takes a session-level advisory lock named by the thread id, or
raises `ThreadBusy` at once when another worker holds it: two workers never run one thread.
PostgreSQL lets one session take its own lock again, so the threads this process runs are
also kept in a set, and a second delivery to the same process is turned away too.
The locks live as long as the connection, so a worker killed with SIGKILL releases its
threads when PostgreSQL notices the closed socket. If the connection itself is lost while
conversations run, their locks are gone too, so `watch()` cancels those conversations and
the worker stops (its messages go back to the queue, its supervisor starts it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from dramatiq.errors import Retry

from copydesk.graphs.queue.jobs import JobTable

__all__ = ["ThreadBusy", "ThreadLocks", "lock_key"]

log = logging.getLogger("copydesk.queue")
T = TypeVar("T")
BUSY_RETRY_MS = 2_000


class ThreadBusy(Retry):
    """Another worker is running this thread; the message comes back in a moment."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} is running on another worker", BUSY_RETRY_MS)


def lock_key(thread_id: str) -> int:
    """The advisory lock key (a signed 64-bit int) of a thread."""
    digest = hashlib.sha256(f"copydesk-thread:{thread_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ThreadLocks:
    """The worker's database connection: jobs and per-thread advisory locks.

    Args:
        url: The checkpoint database (`postgresql://...`).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._use = asyncio.Lock()  # one query at a time on the one connection
        self._holders: dict[str, asyncio.Task[Any]] = {}

    async def open(self) -> JobTable:
        """Connect and make sure the job table exists."""
        self._connection = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, application_name=f"copydesk-locks-{os.getpid()}"
        )
        jobs = JobTable(self._connection)
        await jobs.setup()
        return jobs

    async def close(self) -> None:
        """Close the connection (releasing every lock)."""
        if self._connection is not None:
            await self._connection.close()

    async def query(self, work: Callable[[JobTable], Awaitable[T]]) -> T:
        """Run `work` on the job table, alone on the connection."""
        async with self._use:
            return await work(JobTable(self._db))

    @property
    def _db(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            raise psycopg.OperationalError("the worker's database connection is closed")
        return self._connection

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        """Hold the thread's lock for the block, or raise `ThreadBusy`."""
        if thread_id in self._holders:  # advisory locks are re-entrant within one session
            raise ThreadBusy(thread_id)
        key = lock_key(thread_id)
        async with self._use:
            cursor = await self._db.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await cursor.fetchone()
        if not row or not row[0]:
            raise ThreadBusy(thread_id)
        task = asyncio.current_task()
        assert task is not None, "hold() runs inside a task"
        self._holders[thread_id] = task
        try:
            yield
        finally:
            self._holders.pop(thread_id, None)
            with contextlib.suppress(psycopg.Error):
                async with self._use:
                    await self._db.execute("SELECT pg_advisory_unlock(%s)", (key,))

    async def watch(self, on_lost: Callable[[], None], every: float = 5.0) -> None:
        """Check the connection every `every` s; when it is lost, cancel the conversations
        that held locks on it (their messages are retried elsewhere) and call `on_lost`."""
        while True:
            await asyncio.sleep(every)
            try:
                async with self._use:
                    await self._db.execute("SELECT 1")
            except psycopg.Error as error:
                log.error(
                    "lost the database connection holding thread locks (%s); stopping %d "
                    "conversation(s), which go on elsewhere from their checkpoints",
                    type(error).__name__,
                    len(self._holders),
                )
                for task in list(self._holders.values()):
                    task.cancel()
                on_lost()
                return
