"""Handing work to the workers: `submit`, `submit_resume`, `submit_many` and `wait_for`.

Each submission is checked here first (known graph, topic, thread id, the thread's state), then
recorded as a `queued` job in the checkpoint database, then published to RabbitMQ with a
publisher confirm: when these functions return, the broker has the message on disk. If the
broker cannot be reached the jobs are marked `failed` and `BrokerUnavailableError` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import dramatiq.errors
import psycopg

from copydesk.agents.errors import ConfigError
from copydesk.agents.settings import Settings
from copydesk.agents.telemetry import Telemetry
from copydesk.graphs.errors import EndingError, InputError
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.queue.broker import (
    BrokerUnavailableError,
    broker_location,
    declare_actor,
    make_broker,
)
from copydesk.graphs.queue.jobs import Job, JobTable, make_job_id
from copydesk.graphs.registry import find
from copydesk.graphs.stopping import MAX_TIMEOUT
from copydesk.graphs.transcript import check_thread_id, make_thread_id
from copydesk.graphs.until import until_endings

__all__ = [
    "Submission",
    "require_postgres",
    "submit",
    "submit_many",
    "submit_resume",
    "submit_runs",
    "wait_for",
    "withdraw",
]

Progress = Callable[[int, int, int], None]
"""Called with (finished, failed, total) as jobs end."""


@dataclass(frozen=True)
class Submission:
    """A job handed to the workers: its id and the thread it runs."""

    job_id: str
    thread_id: str

    def as_json(self) -> dict[str, str]:
        """`{job_id, thread_id}`."""
        return {"job_id": self.job_id, "thread_id": self.thread_id}


def require_postgres(settings: Settings) -> str:
    """The checkpoint URL, which the queue needs to be PostgreSQL (shared by every worker)."""
    url = settings.resolved_checkpoint_url
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "the queue needs checkpoints every worker can reach; set "
            "COPYDESK_CHECKPOINT_URL=postgresql://... for workers and submitters alike"
        )
    return url


async def _connect(settings: Settings) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to the job table's PostgreSQL, or one line saying it is down."""
    url = require_postgres(settings)
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=True)
    except psycopg.OperationalError:
        raise ConfigError(
            "cannot reach the PostgreSQL of COPYDESK_CHECKPOINT_URL; start it or fix the URL"
        ) from None


@contextlib.asynccontextmanager
async def _jobs(settings: Settings) -> AsyncIterator[JobTable]:
    async with await _connect(settings) as connection:
        jobs = JobTable(connection)
        await jobs.setup()
        yield jobs


def _publish(url: str, queue: str, job_ids: Sequence[str]) -> None:
    broker = make_broker(url)
    try:
        actor = declare_actor(broker, queue)
        for job_id in job_ids:
            actor.send(job_id)
    finally:
        broker.close()


async def _enqueue(settings: Settings, jobs: list[Job]) -> list[Submission]:
    """Record and publish `jobs`; while tracing, in a `submit` span whose traceparent each
    job carries, so the worker's spans join this trace."""
    telemetry = Telemetry.from_settings(settings)
    with telemetry.span(
        "submit",
        {"copydesk.jobs": len(jobs), "copydesk.thread_id": jobs[0].thread_id},
        kind="producer",
    ):
        carried = telemetry.traceparent()
        if carried is not None:
            jobs = [replace(j, request={**j.request, "traceparent": carried}) for j in jobs]
        return await _publish_jobs(settings, jobs)


async def _publish_jobs(settings: Settings, jobs: list[Job]) -> list[Submission]:
    async with _jobs(settings) as table:
        await table.add(jobs)
        try:
            await asyncio.to_thread(
                _publish, settings.broker_url, settings.queue, [j.job_id for j in jobs]
            )
        except (dramatiq.errors.ConnectionError, OSError) as error:
            reason = f"RabbitMQ at {broker_location(settings.broker_url)} is unreachable"
            for job in jobs:
                await table.finish(job.job_id, "failed", None, f"not submitted: {reason}")
            raise BrokerUnavailableError(
                f"{reason} ({type(error).__name__}); start it (`rabbitmq-server -detached`) or "
                "set COPYDESK_BROKER_URL"
            ) from None
    return [Submission(j.job_id, j.thread_id) for j in jobs]


def _check_endings(until: str, time_limit: float | None) -> None:
    """Refuse endings a worker could not apply, before anything is queued."""
    if until:
        until_endings(until)
    if time_limit is not None and not 0 < time_limit <= MAX_TIMEOUT:
        raise EndingError(
            f"the time limit {time_limit!r} s is out of range; give more than 0 s and at most 168 h"
        )


def _endings(until: str, time_limit: float | None) -> dict[str, Any]:
    """What a job's request says of its endings (nothing when it has none: older workers
    read such a request as before)."""
    return {
        **({"until": until} if until else {}),
        **({"time_limit": time_limit} if time_limit is not None else {}),
    }


async def _thread_status(settings: Settings, thread_id: str) -> str | None:
    """Where an existing thread stands (`RunResult.status`), or None for a new one."""
    quiet = settings.model_copy(update={"memory": False})
    async with ConversationManager(quiet) as manager:
        if await manager.checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}}):
            return (await manager.result(thread_id)).status
    return None


async def submit(
    settings: Settings,
    graph: str,
    *,
    topic: str = "",
    thread_id: str | None = None,
    max_rounds: int | None = None,
    review: bool = False,
    token_budget: int = 0,
    max_cost: float | None = None,
    prompts: Mapping[str, str] | None = None,
    experiment: str | None = None,
    until: str = "",
    time_limit: float | None = None,
) -> Submission:
    """Queue a run of `graph` (what `ConversationManager.run` takes); return at once.

    `until` and `time_limit` travel with the job: the worker applies them as `run --until`
    and `--timeout` do, the time limit counted from when a worker starts the run.

    Raises:
        InputError: Unknown graph, empty topic for a new thread, bad thread id, a thread
            that is still running or waiting for review, or endings that cannot be read.
        ConfigError: The checkpoint URL is not PostgreSQL, or PostgreSQL is unreachable.
        BrokerUnavailableError: RabbitMQ could not take the message.
    """
    find(graph)
    _check_endings(until, time_limit)
    topic = topic.strip()
    if not topic and thread_id is None:  # input first, then what the queue needs
        raise InputError("the topic is empty; pass --topic with what to write about")
    thread_id = check_thread_id(thread_id or make_thread_id())
    require_postgres(settings)
    status = await _thread_status(settings, thread_id)
    if status is None and not topic:
        raise InputError("the topic is empty; pass --topic with what to write about")
    if status in ("interrupted", "waiting_for_review"):
        raise InputError(
            f"thread {thread_id!r} has not finished ({status}); continue it with "
            f"`copydesk resume {thread_id} --queue` or pick another --thread-id"
        )
    request: dict[str, Any] = {
        "graph": graph,
        "topic": topic,
        "max_rounds": max_rounds,
        "review": review,
        "token_budget": token_budget,
        "max_cost": max_cost,
        "prompts": dict(prompts or {}),
        "experiment": experiment,
        **_endings(until, time_limit),
    }
    job = Job(make_job_id(), thread_id, "run", request)
    return (await _enqueue(settings, [job]))[0]


async def submit_resume(
    settings: Settings,
    thread_id: str,
    *,
    answer: Mapping[str, str] | None = None,
    time_limit: float | None = None,
) -> Submission:
    """Queue the continuation of an interrupted thread, or a review answer
    (`{"action": "approve"}` / `{"action": "feedback", "text": ...}`), with the seconds it
    may take from when a worker starts it (`time_limit`).

    Raises:
        UnknownThreadError: No such thread.
        InputError: An answer for a thread not waiting for review, or none for one that is.
    """
    _check_endings("", time_limit)
    require_postgres(settings)
    status = await _thread_status(settings, thread_id)
    if status is None:
        raise InputError(f"unknown thread {thread_id!r}; `copydesk threads` lists the known ones")
    if status == "waiting_for_review" and answer is None:
        raise InputError(
            f"thread {thread_id!r} is waiting for review; resume it with --approve or "
            '--feedback "what to change"'
        )
    if answer is not None and status != "waiting_for_review":
        raise InputError(
            f"thread {thread_id!r} is not waiting for review ({status}); resume it without "
            "--approve or --feedback"
        )
    request = {"answer": dict(answer) if answer else None, **_endings("", time_limit)}
    job = Job(make_job_id(), thread_id, "resume", request)
    return (await _enqueue(settings, [job]))[0]


async def submit_many(
    settings: Settings,
    graph: str,
    topics: Sequence[str],
    *,
    max_rounds: int | None = None,
    max_cost: float | None = None,
    until: str = "",
    time_limit: float | None = None,
) -> list[Submission]:
    """Queue one new thread per topic (in one transaction and one broker connection), each
    with the same endings and time limit."""
    find(graph)
    _check_endings(until, time_limit)
    stamp = make_thread_id()
    request = {"graph": graph, "max_rounds": max_rounds, "max_cost": max_cost}
    request |= _endings(until, time_limit)
    jobs = [
        Job(make_job_id(), f"{stamp}-{n}", "run", {**request, "topic": t.strip()})
        for n, t in enumerate(topics)
    ]
    if any(not j.request["topic"] for j in jobs):
        raise InputError("a topic is empty; write one topic per line")
    return await _enqueue(settings, jobs)


async def submit_runs(
    settings: Settings, runs: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Submission]:
    """Queue new threads, each `(thread_id, request)` with a request as `ConversationManager.run`
    takes it (`graph`, `topic`, `max_rounds`, `prompts`, `inputs`) plus the `model` and
    `memory` the worker runs it with (an eval's runs: one transaction, one broker connection).

    Raises:
        InputError: An unknown graph or a bad thread id.
    """
    jobs = []
    for thread_id, request in runs:
        find(str(request["graph"]))
        jobs.append(Job(make_job_id(), check_thread_id(thread_id), "run", dict(request)))
    require_postgres(settings)
    return await _enqueue(settings, jobs)


async def wait_for(
    settings: Settings,
    job_ids: Sequence[str],
    *,
    progress: Progress | None = None,
    every: float = 0.5,
) -> list[Job]:
    """Wait until every job is `done`, `failed` or `stopped`; return them in `job_ids`
    order."""
    async with _jobs(settings) as table:
        while True:
            counts = await table.counts(job_ids)
            done = counts.get("done", 0) + counts.get("stopped", 0)  # withdrawn: ended
            failed = counts.get("failed", 0)
            if progress is not None:
                progress(done, failed, len(job_ids))
            if done + failed >= len(job_ids):
                by_id = {j.job_id: j for j in await table.many(job_ids)}
                return [by_id[i] for i in job_ids]
            await asyncio.sleep(every)


async def withdraw(settings: Settings, thread_id: str) -> tuple[list[str], bool]:
    """Withdraw the jobs of `thread_id` that no worker has started (`copydesk stop` of a
    queued thread: it does not run); return their ids, and whether a worker has taken one
    of its jobs without finishing it. A database where nothing was ever queued is not
    written to."""
    async with await _connect(settings) as connection:
        cursor = await connection.execute("SELECT to_regclass('copydesk_queue_jobs')")
        found = await cursor.fetchone()
        if found is None or found[0] is None:
            return [], False
        return await JobTable(connection).withdraw(thread_id)
