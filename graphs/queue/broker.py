"""The Dramatiq broker over RabbitMQ, and the one actor workers run.

Why Dramatiq on RabbitMQ (measured in `benchmarks/queue_engines.py`, see the README's
"Scaling out"): async actors run on the worker's one event loop, so a process holds many
waiting conversations; messages are acknowledged only after the actor returns, and RabbitMQ
hands a dead worker's unacknowledged messages to another worker at once; queues are durable,
messages persistent and publishes confirmed, so a broker restart loses no submission.

Nothing here connects at import: `make_broker` builds a broker (pika connects on first use).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import Retry
from dramatiq.middleware import Middleware, Retries

from copydesk.agents.errors import CopydeskError

__all__ = [
    "ACTOR",
    "QUEUE",
    "BrokerUnavailableError",
    "broker_location",
    "declare_actor",
    "make_broker",
    "pika_url",
]

QUEUE = "copydesk"
ACTOR = "copydesk.job"
RETRIES = 8  # unexpected errors (a lost database, a bug); ThreadBusy retries without limit


class BrokerUnavailableError(CopydeskError):
    """RabbitMQ could not be reached or refused the message."""


def broker_location(url: str) -> str:
    """`host:port/vhost` of a broker URL, without user or password (safe to print)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5672}{parts.path or '/'}"


def pika_url(url: str) -> str:
    """`url` as pika reads it: Celery's `amqp://host//` (vhost `/`) becomes `.../%2F`."""
    parts = urlsplit(url)
    if parts.path in ("", "/", "//"):
        return urlunsplit(parts._replace(path="/%2F"))
    return url


def _retry_when(retries: int, error: BaseException) -> bool:
    return isinstance(error, Retry) or retries < RETRIES


def make_broker(url: str, *, extra: list[Middleware] | None = None) -> RabbitmqBroker:
    """A RabbitMQ broker with confirmed publishes and the middleware copydesk needs.

    No time limit (a conversation may take many minutes); retries back off from 1 s to 30 s.
    Async actors run on the event loop thread `run_worker` starts (Dramatiq's `AsyncIO`
    middleware would start one too, but without a way to open copydesk's resources on it
    before the first message).
    """
    middleware: list[Middleware] = [
        Retries(min_backoff=1_000, max_backoff=30_000, retry_when=_retry_when),
        *(extra or []),
    ]
    # pika logs every failed connection attempt with a traceback; copydesk says it in one line.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    return RabbitmqBroker(url=pika_url(url), confirm_delivery=True, middleware=middleware)


def declare_actor(
    broker: RabbitmqBroker,
    queue: str = QUEUE,
    handle: Callable[[str], Awaitable[Any]] | None = None,
) -> dramatiq.Actor[[str], Any]:
    """Declare the job actor on `broker`, taking from `queue`; `handle(job_id)` runs it
    (workers only)."""

    async def job(job_id: str) -> None:
        if handle is None:
            raise RuntimeError("this broker only submits; run `copydesk worker` to process jobs")
        try:
            await handle(job_id)
        except asyncio.CancelledError:  # the worker is stopping: back to the queue, quietly
            raise Retry("stopped by its worker", delay=1_000) from None

    return dramatiq.Actor(
        job, broker=broker, actor_name=ACTOR, queue_name=queue, priority=0, options={}
    )
