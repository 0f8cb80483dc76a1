"""What a worker does with one job: a thin layer over `ConversationManager`, exactly once.

Every delivery of a job, the first or a redelivery after a crash, goes through `Runner.handle`:

1. a job already `done` or `failed` is not run again: the stored result is reported;
2. the thread's advisory lock is taken, or the delivery is retried shortly (`ThreadBusy`);
3. the job is compared with the thread's checkpoints: if nothing was checkpointed since the
   job was first taken, the run (or the review answer) starts; otherwise an earlier delivery
   got part of the way, and the thread is resumed from its newest checkpoint (or, if it
   already reached an ending or a review pause, its result is recorded). Rounds are
   checkpointed as they finish (`durability="sync"`), so none is lost or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from copydesk.agents.settings import Settings
from copydesk.agents.telemetry import Telemetry
from copydesk.errors import CopydeskError
from copydesk.graphs.events import RunResult
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.queue.jobs import Job
from copydesk.graphs.queue.lock import BUSY_RETRY_MS, ThreadBusy, ThreadLocks
from copydesk.graphs.settle import settle
from copydesk.memory.errors import StoreError
from copydesk.prompts.errors import PromptError

__all__ = ["Runner"]

log = logging.getLogger("copydesk.queue")


class Runner:
    """A worker process's conversations: one manager, one lock connection, many jobs at once.

    Open it on the event loop that will run the jobs (`open`), then call `handle` per job.
    """

    def __init__(self, settings: Settings, on_lost: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.on_lost = on_lost
        """Called when the database connection holding the thread locks is lost."""
        self.locks = ThreadLocks(settings.resolved_checkpoint_url)
        self._stack = contextlib.AsyncExitStack()
        self._manager: ConversationManager | None = None
        self._watch: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._others: dict[tuple[str, bool], ConversationManager] = {}

    async def open(self) -> None:
        """Connect to the database and open the manager (checkpointer, store, client)."""
        await self.locks.open()
        self._stack.push_async_callback(self.locks.close)
        # Metrics for `copydesk worker --metrics-port`, traced or not.
        telemetry = Telemetry.from_settings(self.settings, metrics=True)
        self._manager = await self._stack.enter_async_context(
            ConversationManager(self.settings, telemetry=telemetry)
        )
        self._watch = asyncio.create_task(self.locks.watch(self.on_lost))

    async def close(self) -> None:
        """Cancel the jobs still running (their messages return to the queue), stop watching
        and close everything `open` opened."""
        pending = [*self._running, *([self._watch] if self._watch else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for other in self._others.values():
            if other.client is not self.manager.client:
                await other.client.aclose()
        await self._stack.aclose()

    @property
    def manager(self) -> ConversationManager:
        """The open manager."""
        if self._manager is None:
            raise RuntimeError("Runner.open() first")
        return self._manager

    async def handle(self, job_id: str) -> dict[str, Any] | None:
        """Run one delivery of a job; return the thread's result (None for an unknown job).

        Raises:
            ThreadBusy: Another worker holds the thread (the message is retried).
        """
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        job = await self.locks.query(lambda jobs: jobs.get(job_id))
        if job is None:
            log.warning("job %s is not in the job table; dropping its message", job_id)
            return None
        if job.finished:
            log.info("job %s was already %s; nothing to do", job_id, job.status)
            return job.result
        try:
            return await self._locked(job_id, job.thread_id)
        except ThreadBusy:
            log.info(
                "thread %s is running on another worker; job %s comes back in %.0f s",
                job.thread_id,
                job_id,
                BUSY_RETRY_MS / 1000,
            )
            raise

    async def _locked(self, job_id: str, thread_id: str) -> dict[str, Any] | None:
        async with self.locks.hold(thread_id):
            job = await self.locks.query(lambda jobs: jobs.get(job_id))
            if job is None or job.finished:
                return job.result if job else None
            latest = await self._latest_checkpoint(thread_id)
            taken = await self.locks.query(lambda jobs: jobs.take(job, latest))
            if taken is None:  # pragma: no cover - a stop between the read above and the take
                log.info("job %s (thread %s) was stopped before it started", job_id, thread_id)
                return None
            if taken.deliveries > 1:
                log.warning(
                    "job %s (thread %s) delivered again (%d); going on from its checkpoint",
                    job_id,
                    thread_id,
                    taken.deliveries,
                )
            telemetry = self.manager.client.telemetry
            try:
                with (
                    telemetry.joined(taken.request.get("traceparent")),
                    telemetry.span(
                        "job",
                        {"copydesk.job_id": job_id, "copydesk.deliveries": taken.deliveries},
                        kind="consumer",
                    ),
                ):
                    result = await self._advance(taken, latest)
                    await settle(self.manager.store)  # its memories searchable once it is done
            except (StoreError, PromptError):
                raise  # the store or the prompts, not this job: Dramatiq delivers it again
            except CopydeskError as error:
                message = str(error)
                await self.locks.query(lambda jobs: jobs.finish(job_id, "failed", None, message))
                log.warning("job %s (thread %s) failed: %s", job_id, thread_id, message)
                return None
            row = result.as_json()
            await self.locks.query(lambda jobs: jobs.finish(job_id, "done", row, None))
            log.info("job %s: thread %s %s", job_id, thread_id, result.status)
            return row

    async def _latest_checkpoint(self, thread_id: str) -> str | None:
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        latest = await self.manager.checkpointer.aget_tuple(config)  # type: ignore[arg-type]
        return None if latest is None else str(latest.checkpoint["id"])

    def manager_for(self, request: dict[str, Any]) -> ConversationManager:
        """The manager a run asks for: this worker's, or one on the request's `model` and
        `memory` (an eval's variant on another model, without the memory store) that shares
        its checkpoints, store and rate limiters."""
        settings = self.settings
        model = str(request.get("model") or settings.model)
        memory = bool(request.get("memory", settings.memory))
        if (model, memory) == (settings.model, settings.memory):
            return self.manager
        if (model, memory) not in self._others:
            from copydesk.graphs.eval_run import client_for

            changed = settings.model_copy(update={"model": model, "memory": memory})
            self._others[model, memory] = ConversationManager(
                changed,
                client=client_for(settings, model, self.manager.client),
                checkpointer=self.manager.checkpointer,
                store=self.manager.store,
            )
        return self._others[model, memory]

    async def _advance(self, job: Job, latest: str | None) -> RunResult:
        """Start the job, or carry on from where an earlier delivery of it stopped."""
        request, thread_id = job.request, job.thread_id
        manager = self.manager_for(request) if job.kind == "run" else self.manager
        # The time limit counts from now: from when this worker starts (or, after a crash,
        # goes on with) the run, not from the submission, which may have waited in the queue.
        limit = request.get("time_limit")
        begun = latest is not None and latest != job.base_checkpoint
        if not begun and job.kind == "run":
            return await manager.run(
                str(request["graph"]),
                topic=str(request.get("topic", "")),
                thread_id=thread_id,
                max_rounds=request.get("max_rounds"),
                review=bool(request.get("review", False)),
                token_budget=int(request.get("token_budget", 0)),
                max_cost=request.get("max_cost"),
                prompts=request.get("prompts") or None,
                experiment=request.get("experiment"),
                until=str(request.get("until") or ""),
                time_limit=limit,
                inputs=request.get("inputs") or None,
            )
        if not begun:
            return await manager.resume(thread_id, answer=request.get("answer"), time_limit=limit)
        current = await manager.result(thread_id)
        if current.status == "interrupted" and current.ended_by not in ("stopped", "timeout"):
            return await manager.resume(thread_id, time_limit=limit)
        return current
