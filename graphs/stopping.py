"""Stopping a run at its next safe point: a wall-clock `--timeout`, or a stop asked from
outside (`copydesk stop THREAD`, the review page's Stop button).

Both use LangGraph's cooperative drain (`RunControl.request_drain`): the run finishes the
step in progress (a turn, or the parallel turns of one step), its checkpoint is written, and
the graph stops before the next step with `GraphDrained`. Nothing streamed is lost: the turn
in progress ends whole and is saved, and `copydesk resume` continues from the next step.

A stop reaches the run through the checkpoint store (`copydesk.memory.runs`): one task per
manager polls the rows of the threads it runs every `interval` seconds, which is also their
heartbeat. A stop asked of a thread this manager runs drains it at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl
from langgraph.types import StateSnapshot

from copydesk.graphs.errors import EndingError, InputError
from copydesk.graphs.events import Event, RunResult
from copydesk.graphs.transcript import shown_id
from copydesk.memory.runs import RunRecord, RunState, RunTable

__all__ = [
    "POLL_SECONDS",
    "STALE_SECONDS",
    "StopAnswer",
    "Stops",
    "answer_stop",
    "parse_timeout",
    "stale",
]

POLL_SECONDS = 1.0
"""How often a running process reads the stops asked of its threads (and beats)."""
STALE_SECONDS = 30.0
"""A running row whose heartbeat is older than this belongs to a process that is gone."""
MAX_TIMEOUT = 7 * 24 * 3600.0
_UNITS = {"s": 1, "m": 60, "h": 3600}
_log = logging.getLogger("copydesk.stopping")


def parse_timeout(text: str, *, flag: str = "--timeout") -> float:
    """Seconds of a duration written `90s`, `10m` or `1.5h`.

    Raises:
        EndingError: Not a positive number with a unit s, m or h, or longer than a week.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text)
    if match is None:
        raise EndingError(
            f"{flag} {text!r} is not a duration; write a number and a unit: 90s, 10m or 2h"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_TIMEOUT:
        raise EndingError(f"{flag} {text!r} is out of range; give more than 0s and at most 168h")
    return seconds


def _drain(control: RunControl, reason: str) -> None:
    if not control.drain_requested:  # the first reason stands
        control.request_drain(reason)


@dataclass
class Stops:
    """The runs a manager drives, their timeouts, and the stops asked of them."""

    table: RunTable
    interval: float = POLL_SECONDS
    _runs: dict[str, RunControl] = field(default_factory=dict)
    _poller: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def watching(self, thread_id: str, time_limit: float | None) -> AsyncIterator[RunControl]:
        """Mark `thread_id` running here for the block; drain its control when a stop is
        asked or `time_limit` seconds have passed."""
        control = RunControl()
        await self.table.started(thread_id, socket.gethostname(), os.getpid())
        self._runs[thread_id] = control
        loop = asyncio.get_running_loop()
        timer = loop.call_later(time_limit, _drain, control, "timeout") if time_limit else None
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            yield control
        finally:
            if timer is not None:
                timer.cancel()
            self._runs.pop(thread_id, None)
            if not self._runs and self._poller is not None:
                self._poller.cancel()
                self._poller = None

    async def _poll(self) -> None:
        warned = False
        while self._runs:
            await asyncio.sleep(self.interval)
            try:
                asked = await self.table.beat(list(self._runs))
            except Exception as error:  # a stop is a courtesy: the run goes on without it
                if not warned:
                    _log.warning("cannot read stop requests (%s); retrying", error)
                    warned = True
                continue
            for thread_id in asked:
                if thread_id in self._runs:
                    _drain(self._runs[thread_id], "stopped")

    async def run(
        self,
        thread_id: str,
        time_limit: float | None,
        events: Callable[[RunControl], AsyncIterator[Event]],
        checkpointer: BaseCheckpointSaver[str],
        result: Callable[[str], Awaitable[RunResult]],
    ) -> AsyncIterator[Event]:
        """Yield the run's `events` (made with its control) while it is marked running; after
        a drain, record how it was stopped at the thread's latest checkpoint and yield the
        thread's `result` (the events end with it otherwise)."""
        how: RunState | None = None
        async with self.watching(thread_id, time_limit) as control:
            try:
                async for event in events(control):
                    yield event
            except GraphDrained as drained:
                how = "timeout" if drained.reason == "timeout" else "stopped"
            finally:
                config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
                latest = await checkpointer.aget_tuple(config) if how else None
                at = str(latest.checkpoint["id"]) if latest is not None else ""
                await self.table.ended(thread_id, how, at)
        if how is not None:
            yield await result(thread_id)

    async def stopped_at(self, thread_id: str, snapshot: StateSnapshot) -> str:
        """`stopped` or `timeout` when a run of `thread_id` was stopped at `snapshot`."""
        checkpoint_id = str(snapshot.config["configurable"].get("checkpoint_id", ""))
        record = await self.table.get(thread_id)
        found = record is not None and record.checkpoint_id == checkpoint_id
        return record.state if found and record.state != "running" else ""  # type: ignore[union-attr]

    async def stop(self, thread_id: str) -> RunRecord | None:
        """Ask the run of `thread_id` to stop, wherever it runs: the row of the run asked, or
        None when it is not running (no row, a stopped one, or a process gone quiet for
        `STALE_SECONDS`)."""
        record = await self.table.get(thread_id)
        if thread_id in self._runs:
            _drain(self._runs[thread_id], "stopped")
        elif record is None or record.state != "running" or stale(record):
            return None
        await self.table.request_stop(thread_id)
        return record


@dataclass(frozen=True)
class StopAnswer:
    """What `copydesk stop` says: a stop asked of a running thread, or that it had ended."""

    thread_id: str
    asked: RunRecord | None
    """The run asked to stop; None when the thread had ended already."""
    result: RunResult | None = None
    """Where the thread stands, when it had ended."""
    withdrawn: tuple[str, ...] = ()
    """Queued jobs of the thread withdrawn before any worker started them
    (`copydesk.graphs.queue.stop`)."""

    def message(self) -> str:
        """One line for the person who asked."""
        shown = shown_id(self.thread_id)
        if self.withdrawn:
            jobs = f"{len(self.withdrawn)} queued job(s) withdrawn ({', '.join(self.withdrawn)})"
            if self.asked is None and self.result is None:
                return (
                    f"thread {shown} was queued and no worker had started it: {jobs}, so it "
                    "will not run; `copydesk submit` or `copydesk resume --queue` queues it again"
                )
            return f"{replace(self, withdrawn=()).message()}; {jobs}"
        if self.asked is not None:
            where = f"process {self.asked.pid} on {self.asked.host}"
            return (
                f"stop asked of thread {shown} ({where}); it stops after the step in progress, "
                f"saved, and `copydesk resume {self.thread_id}` continues it"
            )
        status, ended_by = (self.result.status, self.result.ended_by) if self.result else ("?", "")
        return (
            f"thread {shown} has already ended ({status}, ended_by {ended_by or '-'}); "
            "nothing to stop"
        )

    def as_json(self) -> dict[str, Any]:
        """`{thread_id, asked, host, pid, result, withdrawn}` (`stop --json`)."""
        asked = self.asked
        return {
            "thread_id": self.thread_id,
            "asked": asked is not None,
            "host": asked.host if asked else None,
            "pid": asked.pid if asked else None,
            "result": self.result.as_json() if self.result else None,
            "withdrawn": list(self.withdrawn),
        }


async def answer_stop(
    thread_id: str, asked: RunRecord | None, where: Callable[[str], Awaitable[RunResult]]
) -> StopAnswer:
    """The answer to a stop of `thread_id` (`asked`: the run asked, None if not running;
    `where`: the thread's result, read when it was not).

    Raises:
        InputError: The thread is not running and has not ended: it was interrupted (a
            crash, Ctrl-C, a model outage), or it is still waiting for review.
    """
    if asked is not None:
        return StopAnswer(thread_id, asked)
    result = await where(thread_id)
    if result.status == "interrupted" and result.ended_by not in ("stopped", "timeout"):
        raise InputError(
            f"thread {shown_id(thread_id)} is not running (interrupted, no process runs it); "
            f"nothing to stop: `copydesk resume {thread_id}` continues it"
        )
    if result.status == "waiting_for_review":
        raise InputError(
            f"thread {shown_id(thread_id)} is not running (waiting for review); nothing to "
            f"stop: answer it with `copydesk resume {thread_id} --approve` or --feedback"
        )
    return StopAnswer(thread_id, None, result)


def stale(record: RunRecord) -> bool:
    """The running process of `record` stopped beating: it is gone."""
    return time.time() - record.seen_at > STALE_SECONDS
