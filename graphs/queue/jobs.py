"""The queue's record of submitted work, in the checkpoint database (PostgreSQL).

One row per submission (a *job*): the thread, what to do (`run` a topology on it, or `resume`
it, perhaps with a review answer), the request, and where it stands: `queued`, `running`,
`done` (with the thread's result), `failed` (with a one-line error) or `stopped` (withdrawn
by `copydesk stop` before any worker started it: it never runs). The broker message
carries only the job id, so the row is the truth a worker reads: a delivery of a job that is
already `done` only reports the stored result, and `base_checkpoint` (the thread's newest
checkpoint when a worker first took the job) tells a redelivery whether the job had begun.
`run-many --queue` reads its progress bar from these rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = ["FINISHED", "WITHDRAWN", "Job", "JobKind", "JobTable", "make_job_id"]

JobKind = Literal["run", "resume"]
WITHDRAWN = "stopped by `copydesk stop` before a worker started it"
FINISHED = ("done", "failed", "stopped")
_SCHEMA_LOCK = 7_344_101  # an advisory lock held while the table is created (workers race)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS copydesk_queue_jobs (
    job_id text PRIMARY KEY,
    thread_id text NOT NULL,
    kind text NOT NULL,
    request jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    base_checkpoint text,
    result jsonb,
    error text,
    deliveries integer NOT NULL DEFAULT 0,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS copydesk_queue_jobs_thread ON copydesk_queue_jobs (thread_id);
"""


def make_job_id() -> str:
    """A fresh job id."""
    return f"job-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Job:
    """One submission and where it stands."""

    job_id: str
    thread_id: str
    kind: JobKind
    request: dict[str, Any]
    """What `ConversationManager` is asked: graph, topic, max_rounds, review, answer, ..."""
    status: str = "queued"
    base_checkpoint: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    deliveries: int = 0
    """How many times a worker has taken this job (more than 1 after a crash)."""

    @property
    def finished(self) -> bool:
        """True once the job is `done` or `failed`."""
        return self.status in FINISHED

    def as_json(self) -> dict[str, Any]:
        """The row as JSON (what `run-many --queue --json` prints per thread)."""
        return {
            "job_id": self.job_id,
            "thread_id": self.thread_id,
            "kind": self.kind,
            "state": self.status,
            "result": self.result,
            "error": self.error,
            "deliveries": self.deliveries,
        }


class JobTable:
    """Jobs in PostgreSQL, over one autocommit connection the caller owns (and serialises)."""

    def __init__(self, connection: AsyncConnection[Any]) -> None:
        self.db = connection

    async def setup(self) -> None:
        """Create the table if it is missing (safe when many processes start at once)."""
        async with self.db.transaction():
            await self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            await self.db.execute(_SCHEMA)

    async def add(self, jobs: Iterable[Job]) -> None:
        """Record new jobs as `queued` (one transaction)."""
        rows = [(j.job_id, j.thread_id, j.kind, Jsonb(j.request)) for j in jobs]
        async with self.db.transaction(), self.db.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO copydesk_queue_jobs (job_id, thread_id, kind, request) "
                "VALUES (%s, %s, %s, %s)",
                rows,
            )

    async def get(self, job_id: str) -> Job | None:
        """The job, or None."""
        found = await self.many([job_id])
        return found[0] if found else None

    async def many(self, job_ids: Sequence[str]) -> list[Job]:
        """The jobs that exist among `job_ids`."""
        async with self.db.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT job_id, thread_id, kind, request, status, base_checkpoint, result, "
                "error, deliveries FROM copydesk_queue_jobs WHERE job_id = ANY(%s)",
                (list(job_ids),),
            )
            return [Job(**row) for row in await cursor.fetchall()]

    async def take(self, job: Job, base_checkpoint: str | None) -> Job | None:
        """Count a delivery; a `queued` job becomes `running` with its base checkpoint. None
        when the job was withdrawn (`withdraw`) meanwhile: it is not to run."""
        first = job.status == "queued"
        cursor = await self.db.execute(
            "UPDATE copydesk_queue_jobs SET deliveries = deliveries + 1, status = 'running', "
            "base_checkpoint = CASE WHEN %s THEN %s ELSE base_checkpoint END, updated_at = now() "
            "WHERE job_id = %s AND status IN ('queued', 'running') RETURNING job_id",
            (first, base_checkpoint, job.job_id),
        )
        if await cursor.fetchone() is None:
            return None
        return Job(
            job_id=job.job_id,
            thread_id=job.thread_id,
            kind=job.kind,
            request=job.request,
            status="running",
            base_checkpoint=base_checkpoint if first else job.base_checkpoint,
            deliveries=job.deliveries + 1,
        )

    async def finish(
        self, job_id: str, status: Literal["done", "failed"], result: Any, error: str | None
    ) -> None:
        """Record how the job ended."""
        await self.db.execute(
            "UPDATE copydesk_queue_jobs SET status = %s, result = %s, error = %s, "
            "updated_at = now() WHERE job_id = %s",
            (status, Jsonb(result) if result is not None else None, error, job_id),
        )

    async def withdraw(self, thread_id: str) -> tuple[list[str], bool]:
        """Mark `stopped` the jobs of `thread_id` no worker has taken yet; return their ids,
        and whether a worker has taken one of its jobs and not finished it."""
        cursor = await self.db.execute(
            "UPDATE copydesk_queue_jobs SET status = 'stopped', error = %s, updated_at = now() "
            "WHERE thread_id = %s AND status = 'queued' RETURNING job_id",
            (WITHDRAWN, thread_id),
        )
        withdrawn = sorted(str(row[0]) for row in await cursor.fetchall())
        cursor = await self.db.execute(
            "SELECT 1 FROM copydesk_queue_jobs WHERE thread_id = %s AND status = 'running'",
            (thread_id,),
        )
        return withdrawn, await cursor.fetchone() is not None

    async def counts(self, job_ids: Sequence[str]) -> dict[str, int]:
        """Jobs per status among `job_ids`."""
        cursor = await self.db.execute(
            "SELECT status, count(*) FROM copydesk_queue_jobs WHERE job_id = ANY(%s) "
            "GROUP BY status",
            (list(job_ids),),
        )
        return {str(status): int(n) for status, n in await cursor.fetchall()}
