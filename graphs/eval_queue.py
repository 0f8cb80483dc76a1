"""Running an evaluation suite on the workers: `copydesk eval SUITE --queue`.

Every case x variant x repeat becomes one queued run (`submit_runs`) on the thread the local
path would give it, with the variant's topology, prompts and model, the case's inputs, and
no memory store (a run must not recall what another run of the suite wrote). Once the
workers have ended them all (`wait_for`, which reports progress), each thread is read back
from the checkpoint database the workers share, then scored and judged here exactly as
`run_suite` scores a local run, so the report has the same shape and, for the same replies,
the same numbers.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from copydesk.agents.errors import CopydeskError
from copydesk.graphs.eval_run import inputs_of, lanes_of, overrides_of, score_run, thread_of

if TYPE_CHECKING:
    from copydesk.agents.rubric import RubricJudge
    from copydesk.agents.settings import Settings
    from copydesk.graphs.eval_run import Lane, RunRecord
    from copydesk.graphs.eval_suite import Case, Suite, Variant
    from copydesk.graphs.manager import ConversationManager
    from copydesk.graphs.queue.producer import Progress

__all__ = ["QueuedRunError", "queue_suite", "request_of"]


class QueuedRunError(CopydeskError):
    """A run of the suite failed on a worker (the others' threads are kept)."""


def request_of(suite: Suite, settings: Settings, case: Case, variant: Variant) -> dict[str, Any]:
    """What a worker is asked to run for one case of one variant."""
    return {
        "graph": variant.graph,
        "topic": case.topic,
        "max_rounds": suite.max_rounds,
        "prompts": overrides_of(variant),
        "inputs": inputs_of(case, variant),
        "model": variant.model or settings.model,
        "memory": False,
    }


async def queue_suite(
    suite: Suite,
    manager: ConversationManager,
    *,
    stamp: str,
    judge: RubricJudge | None = None,
    progress: Progress | None = None,
) -> list[RunRecord]:
    """Queue every run of `suite`, wait for the workers, and score the runs through
    `manager` (whose checkpoints must be the workers'); thread ids start with `stamp`.

    Raises:
        ConfigError: The checkpoints are not in PostgreSQL, or it is unreachable.
        BrokerUnavailableError: RabbitMQ could not take the runs.
        QueuedRunError: A run failed on its worker.
    """
    from copydesk.graphs.queue import submit_runs, wait_for

    settings = manager.settings
    lanes = lanes_of(suite)
    runs = [
        (thread_of(stamp, n, variant, repeat), request_of(suite, settings, case, variant))
        for n, case, variant, repeat in lanes
    ]
    submitted = await submit_runs(settings, runs)
    jobs = await wait_for(settings, [s.job_id for s in submitted], progress=progress)
    failed = [job for job in jobs if job.status != "done" or job.result is None]
    if failed:
        first = failed[0]
        raise QueuedRunError(
            f"{len(failed)} of {len(jobs)} runs failed on the workers (thread "
            f"{first.thread_id}: {first.error or 'no result'}); see `copydesk worker`'s log"
        )
    gate = asyncio.Semaphore(suite.concurrency)

    async def scored(lane: Lane, thread: str, result: dict[str, Any]) -> RunRecord:
        async with gate:
            return await score_run(manager, judge, lane, thread, result)

    return list(
        await asyncio.gather(
            *(
                scored(lane, job.thread_id, job.result or {})
                for lane, job in zip(lanes, jobs, strict=True)
            )
        )
    )
