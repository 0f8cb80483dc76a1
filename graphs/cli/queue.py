"""`copydesk worker`, `copydesk submit`, and the queued forms of `run-many` and `resume`.

The commands are thin: `copydesk.graphs.queue` does the work. Errors are one line (`CopydeskError`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from copydesk.graphs.cli.common import (
    JsonFlag,
    MaxCostFlag,
    ModelFlag,
    err,
    execute,
    out,
    require_topology,
    settings_from_flags,
)
from copydesk.graphs.cli.run import UntilFlag, checked_endings

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings
    from copydesk.graphs.queue import Job

# graphs.queue (Dramatiq, pika, psycopg) is imported by the commands that use it, so every
# other command starts as fast as before.

__all__ = ["job_progress", "register", "resume_queued", "run_many_queued"]


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=1000,
            help="Conversations at once on this process (COPYDESK_WORKER_CONCURRENCY, 32).",
        ),
    ] = None,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0.0, help="Seconds running conversations get on SIGTERM."),
    ] = 10.0,
    model: ModelFlag = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=1, max=65535, help="Serve Prometheus /metrics on this port."
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option("--metrics-host", help="Address of /metrics; not loopback needs a token."),
    ] = "127.0.0.1",
) -> None:
    """Run a worker: take queued conversations from RabbitMQ and run them, many at once."""
    from copydesk.graphs.cli.console import configure_logging
    from copydesk.graphs.cli.serve import serve_token

    token = serve_token(metrics_host, "--metrics-host") if metrics_port else None
    settings = settings_from_flags(model=model, worker_concurrency=concurrency)
    secrets = [s.get_secret_value() for s in [settings.openai_api_key] if s]
    password = urlsplit(settings.broker_url).password
    configure_logging(settings.log_level, secrets + ([password] if password else []))
    if settings.log_level == "WARNING":
        logging.getLogger("copydesk.queue").setLevel(logging.INFO)
    from copydesk.graphs.queue import run_worker

    metrics = None
    if metrics_port is not None:
        from copydesk.graphs.web.metrics import MetricsServer

        metrics = MetricsServer(metrics_host, metrics_port, token).start()
    try:
        run_worker(settings, grace=grace)
    finally:
        if metrics is not None:
            metrics.stop()


def submit_command(
    graph: Annotated[str, typer.Argument(help="Topology name (see `copydesk graphs`).")],
    topic: Annotated[str, typer.Option("--topic", "-t", help="What to write about.")] = "",
    thread_id: Annotated[
        str | None,
        typer.Option("--thread-id", help="Thread to start, or a finished one to continue."),
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", min=1, help="Drafts before giving up.")
    ] = None,
    review: Annotated[
        bool, typer.Option("--review", help="Pause for a human's approval (`resume --queue`).")
    ] = False,
    max_cost: MaxCostFlag = None,
    as_json: JsonFlag = False,
    until: UntilFlag = "",
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            help="Stop at the next step this long after a worker starts it (90s, 10m, 2h); "
            "resumable.",
        ),
    ] = None,
) -> None:
    """Queue a conversation for the workers and print its thread id at once."""
    settings = settings_from_flags(max_rounds=max_rounds)
    from copydesk.graphs.queue import submit
    from copydesk.graphs.run_values import check_run_flags

    require_topology(settings, graph)
    check_run_flags(topic=topic, max_cost=max_cost)
    time_limit = checked_endings(until, timeout)

    async def work() -> dict[str, str]:
        submission = await submit(
            settings,
            graph,
            topic=topic,
            thread_id=thread_id,
            max_rounds=max_rounds,
            review=review,
            max_cost=max_cost,
            until=until,
            time_limit=time_limit,
        )
        return submission.as_json()

    row = execute(work)
    if as_json:
        out.print_json(json.dumps(row))
    else:
        out.print(row["thread_id"], markup=False)


def run_many_queued(
    settings: Settings,
    graph: str,
    topics: list[str],
    *,
    max_cost: float | None,
    wait: bool,
    as_json: bool,
    until: str = "",
    time_limit: float | None = None,
) -> None:
    """`run-many FILE --queue`: queue one thread per topic; follow them unless `wait` is off."""
    from copydesk.graphs.queue import submit_many, wait_for

    submissions = execute(
        lambda: submit_many(
            settings,
            graph,
            topics,
            max_rounds=settings.max_rounds,
            max_cost=max_cost,
            until=until,
            time_limit=time_limit,
        )
    )
    if not wait:
        queued = [{**s.as_json(), "topic": t} for s, t in zip(submissions, topics, strict=True)]
        if as_json:
            out.print_json(json.dumps(queued))
        else:
            for entry in queued:
                out.print(f"{entry['thread_id']}  queued  {entry['topic'][:60]}", markup=False)
        return
    progress, show = job_progress("conversations", transient=as_json, total=len(topics))

    async def follow() -> list[Job]:
        with progress:
            return await wait_for(settings, [s.job_id for s in submissions], progress=show)

    jobs = execute(follow)
    rows = [_row(job, topic) for job, topic in zip(jobs, topics, strict=True)]
    if as_json:
        out.print_json(json.dumps(rows))
    else:
        for row in rows:
            cost = row["usage"].get("cost_usd", 0.0)
            out.print(
                f"{row['thread_id']}  {row['status']:<13} ${cost:.4f}  {row['topic'][:60]}",
                markup=False,
            )
            if "error" in row:
                out.print(f"  {row['error']}", markup=False)
    if any(row["status"] == "failed" for row in rows):
        raise typer.Exit(1)


def _row(job: Job, topic: str) -> dict[str, Any]:
    result = job.result or {}
    row: dict[str, Any] = {
        "topic": topic,
        "thread_id": job.thread_id,
        "status": result.get("status", "failed") if job.status == "done" else job.status,
        "final_draft": result.get("final_draft", ""),
        "usage": (result.get("usage") or {}).get("total", {}),
    }
    if job.status in ("failed", "stopped"):  # stopped: withdrawn before it started
        row["error"] = job.error or job.status
    return row


def resume_queued(
    settings: Settings,
    thread_id: str,
    answer: dict[str, str] | None,
    as_json: bool,
    *,
    time_limit: float | None = None,
) -> None:
    """`resume THREAD --queue`: queue the continuation (or the review answer) and return."""
    from copydesk.graphs.queue import submit_resume

    submission = execute(
        lambda: submit_resume(settings, thread_id, answer=answer, time_limit=time_limit)
    )
    if as_json:
        out.print_json(json.dumps(submission.as_json()))
    else:
        out.print(submission.thread_id, markup=False)


def register(app: typer.Typer) -> None:
    """Add `worker` and `submit` to the `copydesk` command."""
    app.command("worker")(worker)
    app.command("submit")(submit_command)


def job_progress(
    description: str, *, transient: bool, total: int | None = None
) -> tuple[Progress, Callable[[int, int, int], None]]:
    """A progress bar on stderr for jobs on the workers, and the callback that moves it
    (`finished, failed, total`, as the queue's waits report them)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err,
        transient=transient,
    )
    bar = progress.add_task(description, total=total, failed=0)

    def show(finished: int, failed: int, total: int) -> None:
        progress.update(bar, total=total, completed=finished + failed, failed=failed)

    return progress, show
