"""`run_worker`: one worker process, many conversations on one event loop.

Dramatiq's worker threads take messages from RabbitMQ (`concurrency` at a time: the prefetch
equals the threads, so a busy worker holds no messages another could run) and hand each job to
`Runner.handle` on the process's single event loop, where the conversations wait on the model
together. A message is acknowledged only when its job has ended; a worker that dies leaves its
messages unacknowledged and RabbitMQ gives them to another worker.

SIGTERM or SIGINT stops taking work and gives running conversations `grace` seconds; what is
still running then is cancelled and its messages return to the queue (the threads go on
from their checkpoints elsewhere).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

import dramatiq
import pika.exceptions
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread

from copydesk.agents.errors import CopydeskError
from copydesk.agents.settings import Settings
from copydesk.graphs.queue.broker import (
    BrokerUnavailableError,
    broker_location,
    declare_actor,
    make_broker,
)
from copydesk.graphs.queue.producer import require_postgres
from copydesk.graphs.queue.tasks import Runner

__all__ = ["DatabaseLostError", "run_worker"]

log = logging.getLogger("copydesk.queue")


def run_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    grace: float = 10.0,
    stop: threading.Event | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (or `stop` is set).

    Args:
        settings: Settings (`COPYDESK_BROKER_URL`, the PostgreSQL checkpoint URL, the model).
        concurrency: Conversations at once (`COPYDESK_WORKER_CONCURRENCY` when None).
        grace: Seconds running conversations get to finish when the worker is stopped.
        stop: Set it to stop the worker (signals are only handled in the main thread).
        ready: Called once the worker is taking work.

    Raises:
        ConfigError: The checkpoint URL is not PostgreSQL, or PostgreSQL is unreachable.
        BrokerUnavailableError: RabbitMQ cannot be reached.
    """
    require_postgres(settings)
    threads = concurrency or settings.worker_concurrency
    stop = stop or threading.Event()
    lost = threading.Event()

    def on_lost() -> None:
        lost.set()
        stop.set()

    runner = Runner(settings, on_lost)
    broker = make_broker(settings.broker_url)
    declare_actor(broker, settings.queue, runner.handle)
    try:
        broker.declare_queue(settings.queue, ensure=True)  # fail now, with one line, if unreachable
    except (dramatiq.errors.ConnectionError, pika.exceptions.AMQPError, OSError) as error:
        raise BrokerUnavailableError(
            f"RabbitMQ at {broker_location(settings.broker_url)} is unreachable "
            f"({type(error).__name__}); start it (`rabbitmq-server -detached`) or set "
            "COPYDESK_BROKER_URL"
        ) from None
    loop = EventLoopThread(logging.getLogger("dramatiq.asyncio"))
    loop.start(timeout=5.0)
    set_event_loop_thread(loop)
    worker = dramatiq.Worker(
        broker, queues={settings.queue}, worker_threads=threads, worker_timeout=500
    )
    worker.queue_prefetch = threads
    try:
        loop.run_coroutine(runner.open())
        worker.start()
        _on_signals(stop)
        log.warning(
            "copydesk worker %d ready: %d conversations at once from queue %r at %s",
            os.getpid(),
            threads,
            settings.queue,
            broker_location(settings.broker_url),
        )
        if ready is not None:
            ready()
        stop.wait()
        log.warning("copydesk worker %d stopping (grace %.0f s)", os.getpid(), grace)
        worker.stop(timeout=int(grace * 1000))
    finally:
        loop.run_coroutine(runner.close())
        loop.stop()  # type: ignore[no-untyped-call]
        set_event_loop_thread(None)
        broker.close()
    if lost.is_set():
        raise DatabaseLostError(
            "the worker lost its PostgreSQL connection and stopped; its conversations went "
            "back to the queue. Check PostgreSQL, then start the worker again"
        )


class DatabaseLostError(CopydeskError):
    """The worker's database connection (and with it its thread locks) was lost."""


def _on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
