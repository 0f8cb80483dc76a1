"""Scaling out: conversations on worker processes through a task queue (Dramatiq on RabbitMQ).

`copydesk worker` runs `run_worker`; `copydesk submit`, `run-many --queue` and
`resume --queue` call `submit`, `submit_many` and `submit_resume`, and `eval --queue` calls
`submit_runs`; `wait_for` follows jobs to their end. Each job is a thin call into
`ConversationManager`, run exactly once through checkpoints, a PostgreSQL advisory lock per
thread and the job table (`copydesk.graphs.queue.jobs`).
"""

from __future__ import annotations

from copydesk.graphs.queue.broker import BrokerUnavailableError
from copydesk.graphs.queue.jobs import Job
from copydesk.graphs.queue.producer import (
    Submission,
    submit,
    submit_many,
    submit_resume,
    submit_runs,
    wait_for,
)
from copydesk.graphs.queue.worker import run_worker

__all__ = [
    "BrokerUnavailableError",
    "Job",
    "Submission",
    "run_worker",
    "submit",
    "submit_many",
    "submit_resume",
    "submit_runs",
    "wait_for",
]
