"""Runs started from the pages, and their events fanned out to browsers (server-sent events).

A run (a new thread, a review answer, a fork) is one asyncio task on the server's loop that
iterates the `ConversationManager` stream, exactly as `copydesk run/resume/fork` do. Each
event becomes a small JSON-able dict, kept (tokens of one speaker merged, so the backlog
stays small) for browsers that connect late, and pushed to every browser that is watching.
The thread itself lives in the checkpoints: stopping the server mid-run leaves a thread that
`copydesk resume` (or the page's Resume button) continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from copydesk.agents.errors import CopydeskError
from copydesk.graphs.events import Event, Restart, RunResult, Token, Turn, TurnStarted

__all__ = ["LiveRun", "RunHub", "event_dict"]

log = logging.getLogger("copydesk.web")


def event_dict(event: Event) -> dict[str, Any] | None:
    """An event as the page's script reads it; None for what the page does not show."""
    if isinstance(event, TurnStarted):
        return {"type": "turn_started", "agent": event.agent}
    if isinstance(event, Token):
        return (
            None
            if event.structured
            else {"type": "token", "agent": event.agent, "text": event.text}
        )
    if isinstance(event, Restart):
        return {"type": "restart", "agent": event.agent, "reason": event.reason}
    if isinstance(event, Turn):
        update = event.update
        out: dict[str, Any] = {"type": "turn", "agent": event.agent, "round": update.get("round")}
        revisions = update.get("revisions") or []
        if revisions:
            out["draft"] = str(revisions[-1].get("text", ""))
        verdicts = update.get("verdicts") or []
        if verdicts:
            verdict = verdicts[-1]
            out["verdict"] = {
                "decision": verdict.get("decision"),
                "summary": verdict.get("summary"),
                "issues": list(verdict.get("issues") or []),
            }
        return out
    return {
        "type": "end",
        "status": event.status,
        "rounds": event.rounds,
        "ended_by": event.ended_by,
    }


@dataclass
class LiveRun:
    """One run in progress (or just finished) and who is watching it."""

    thread_id: str
    kind: str
    backlog: list[dict[str, Any]] = field(default_factory=list)
    watchers: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)
    done: bool = False
    error: str = ""
    task: asyncio.Task[None] | None = None

    def publish(self, item: dict[str, Any]) -> None:
        """Keep `item` for late watchers and push it to current ones."""
        last = self.backlog[-1] if self.backlog else None
        if (
            item["type"] == "token"
            and last is not None
            and last["type"] == "token"
            and last["agent"] == item["agent"]
        ):
            self.backlog[-1] = {**last, "text": last["text"] + item["text"]}
        else:
            self.backlog.append(item)
        for queue in self.watchers:
            queue.put_nowait(item)

    def finish(self) -> None:
        """Mark the run over and release every watcher."""
        self.done = True
        for queue in self.watchers:
            queue.put_nowait(None)


class RunHub:
    """The runs of one server, by thread id (the latest run of each thread)."""

    def __init__(self) -> None:
        self._runs: dict[str, LiveRun] = {}

    def start(self, thread_id: str, kind: str, stream: AsyncIterator[Event]) -> LiveRun:
        """Run `stream` in the background and publish its events."""
        run = LiveRun(thread_id, kind)
        self._runs[thread_id] = run
        run.task = asyncio.get_running_loop().create_task(self._drive(run, stream))
        return run

    def running(self, thread_id: str) -> LiveRun | None:
        """The thread's run, while it is in progress."""
        run = self._runs.get(thread_id)
        return run if run is not None and not run.done else None

    def latest(self, thread_id: str) -> LiveRun | None:
        """The thread's latest run, in progress or finished."""
        return self._runs.get(thread_id)

    async def _drive(self, run: LiveRun, stream: AsyncIterator[Event]) -> None:
        try:
            async for event in stream:
                item = event_dict(event)
                if item is not None:
                    run.publish(item)
                if isinstance(event, RunResult):
                    break
        except CopydeskError as error:
            run.error = str(error)
            run.publish({"type": "failed", "message": run.error})
        except asyncio.CancelledError:
            run.error = "the server stopped during the run; resume the thread to go on"
            run.publish({"type": "failed", "message": run.error})
            raise
        except Exception as error:  # a bug: logged with its traceback, shown as one line
            log.exception("run of thread %s failed", run.thread_id)
            run.error = f"the run failed ({type(error).__name__}); see the server's log"
            run.publish({"type": "failed", "message": run.error})
        finally:
            run.finish()

    async def watch(self, thread_id: str) -> AsyncIterator[dict[str, Any]]:
        """The run's events so far, then new ones as they come, until it ends."""
        run = self._runs.get(thread_id)
        if run is None:
            return
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        backlog = list(run.backlog)  # taken and subscribed with no await between: no gap
        if run.done:
            queue.put_nowait(None)
        else:
            run.watchers.add(queue)
        try:
            for item in backlog:
                yield item
            while (pushed := await queue.get()) is not None:
                yield pushed
        finally:
            run.watchers.discard(queue)

    async def aclose(self) -> None:
        """Cancel runs still in progress (their threads stay resumable)."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.done]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
