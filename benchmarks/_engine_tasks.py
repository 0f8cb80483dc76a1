"""One task, "wait like a conversation waiting on the model", for each engine compared by
`benchmarks/queue_engines.py`. Each run records (start, end, pid, attempt) in a Redis list.

The broker objects are built here at import because each engine's own worker command imports
this module to find its tasks (this is a benchmark, not part of the copydesk packages).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, ClassVar

import redis

REDIS_URL = os.environ.get("COPYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("COPYDESK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
DONE = "bench:engines:done"
STARTED = "bench:engines:started"
ENGINE = os.environ.get("BENCH_ENGINE", "")


def _record(key: str, payload: dict[str, Any]) -> None:
    redis.Redis.from_url(REDIS_URL).rpush(key, json.dumps(payload))


async def wait(seconds: float, tag: str) -> None:
    """The body every engine runs: note the start, await (no CPU), note the end."""
    start = time.time()
    _record(STARTED, {"tag": tag, "t": start, "pid": os.getpid()})
    await asyncio.sleep(seconds)
    _record(DONE, {"tag": tag, "start": start, "end": time.time(), "pid": os.getpid()})


# Dramatiq: RabbitMQ, an async actor run on the worker's one event-loop thread.
if ENGINE == "dramatiq":
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.middleware import AsyncIO

    broker = RabbitmqBroker(url=AMQP_URL.rstrip("/") + "/%2F", confirm_delivery=True)
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name="bench_engines", max_retries=0, time_limit=3_600_000)
    async def dramatiq_wait(seconds: float, tag: str) -> None:
        await wait(seconds, tag)


# Celery: RabbitMQ, late ack; no async tasks, so each task runs its own event loop.
if ENGINE == "celery":
    from celery import Celery

    celery_app = Celery("bench_engines", broker=AMQP_URL)
    celery_app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="bench_engines_celery",
        broker_connection_retry_on_startup=True,
    )

    @celery_app.task(name="celery_wait")
    def celery_wait(seconds: float, tag: str) -> None:
        asyncio.run(wait(seconds, tag))


# arq: Redis, async jobs on one event loop, `max_jobs` at once.
async def arq_wait(ctx: dict[str, Any], seconds: float, tag: str) -> None:
    await wait(seconds, tag)


class ArqSettings:
    """`arq benchmarks._engine_tasks.ArqSettings`."""

    functions: ClassVar[list[Any]] = [arq_wait]
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", "100"))
    job_timeout = int(os.environ.get("BENCH_ARQ_JOB_TIMEOUT", "20"))
    queue_name = "bench:engines:arq"
    poll_delay = 0.05

    @staticmethod
    def _redis() -> Any:
        from arq.connections import RedisSettings

        return RedisSettings.from_dsn(REDIS_URL)


if ENGINE == "arq":
    ArqSettings.redis_settings = ArqSettings._redis()  # type: ignore[attr-defined]
