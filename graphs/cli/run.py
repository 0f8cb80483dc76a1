"""`copydesk run`, `copydesk resume` and `copydesk stop`: start or continue a thread and
stream it live, or stop a running one at its next step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from copydesk.graphs.cli.cassettes import (
    RecordFlag,
    RecordMissingFlag,
    ReplayFlag,
    cassette_for,
    tape_of,
)
from copydesk.graphs.cli.common import (
    JsonFlag,
    LocalFlag,
    MaxCostFlag,
    ModelFlag,
    err,
    execute,
    failed_run,
    follow,
    local_model_for,
    open_manager,
    out,
    require_existing_store,
    require_topology,
    require_writable_home,
    settings_from_flags,
)
from copydesk.graphs.cli.prompts import ExperimentFlag, PromptFlag, checked_prompt_flags
from copydesk.graphs.events import RunResult
from copydesk.graphs.transcript import check_thread_id, make_thread_id
from copydesk.memory.checkpoint import sqlite_path

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings
    from copydesk.graphs.stopping import StopAnswer

__all__ = ["register"]

UntilFlag = Annotated[
    str,
    typer.Option(
        "--until",
        help='End when this holds, e.g. "approved | rounds>=5 & tokens>=20000" (docs: Endings).',
    ),
]
TimeoutFlag = Annotated[
    str | None,
    typer.Option(
        "--timeout", help="Stop at the next step after this long (90s, 10m, 2h); resumable."
    ),
]


def checked_endings(until: str, timeout: str | None) -> float | None:
    """Check `--until` and `--timeout` before anything is written; the timeout in seconds."""
    from copydesk.graphs.stopping import parse_timeout
    from copydesk.graphs.until import until_endings

    if until:
        until_endings(until)
    return parse_timeout(timeout) if timeout is not None else None


def run(
    graph: Annotated[
        str, typer.Argument(help="Topology name (see `copydesk graphs`) or .py path.")
    ],
    topic: Annotated[
        str, typer.Option("--topic", "-t", help="What to write about (new threads).")
    ] = "",
    thread_id: Annotated[
        str | None,
        typer.Option("--thread-id", help="Thread to start, or to continue with this graph."),
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", help="Drafts before giving up (default 3).")
    ] = None,
    review: Annotated[
        bool,
        typer.Option(
            "--review",
            help="Pause for a human's approval (`copydesk resume`); document: --review "
            "outline|sections|final (several with commas; alone: final).",
        ),
    ] = False,
    token_budget: Annotated[
        int, typer.Option("--token-budget", help="End the run after this many tokens (0: none).")
    ] = 0,
    model: ModelFlag = None,
    prompt: PromptFlag = None,
    experiment: ExperimentFlag = None,
    as_json: JsonFlag = False,
    max_cost: MaxCostFlag = None,
    local: LocalFlag = False,
    outline: Annotated[
        Path | None,
        typer.Option(
            "--outline", help="document: a Markdown outline (headings, bullets), taken as given."
        ),
    ] = None,
    sections: Annotated[
        int | None, typer.Option("--sections", help="document: sections to plan (default 5).")
    ] = None,
    words: Annotated[
        int | None, typer.Option("--words", help="document: length in words (default 2000).")
    ] = None,
    source: Annotated[
        list[Path] | None,
        typer.Option("--source", help="document: a text or Markdown file to cite (repeatable)."),
    ] = None,
    record: RecordFlag = None,
    replay: ReplayFlag = None,
    record_missing: RecordMissingFlag = None,
    review_at: Annotated[
        list[str] | None, typer.Option("--review-at", hidden=True)  # `--review POINT` (below)
    ] = None,
    until: UntilFlag = "",
    timeout: TimeoutFlag = None,
) -> None:
    """Start a conversation (or continue a thread) and stream it live; end with the draft."""
    settings = settings_from_flags(model=model, max_rounds=max_rounds, local=local or None)
    require_topology(settings, graph)
    if not topic.strip() and not _may_continue(settings, thread_id):
        err.print("copydesk: error: the topic is empty; pass --topic with what to write about")
        raise typer.Exit(2)
    from copydesk.graphs.document_input import document_inputs
    from copydesk.graphs.run_values import check_run_flags  # pydantic and the state load here

    check_run_flags(topic=topic, token_budget=token_budget, max_cost=max_cost)
    time_limit = checked_endings(until, timeout)
    inputs = document_inputs(
        graph,
        topic=topic.strip(),
        outline=outline,
        sections=sections,
        words=words,
        sources=source,
        review=review_at or (),
    )
    if thread_id is not None:
        # Checked here, before the offline notice and before the checkpoint store is created.
        check_thread_id(thread_id)
    prompts = checked_prompt_flags(settings, prompt, experiment)  # before anything is written
    tape = tape_of(record=record, replay=replay, record_missing=record_missing, graph=graph)
    require_writable_home(settings)

    # Named up front, so a failure can say which thread to resume (a replay: the recorded one).
    thread = thread_id or (tape.thread if tape else None) or make_thread_id()

    async def work() -> RunResult:
        async with open_manager(settings) as manager, failed_run(thread, as_json):
            stream = manager.stream(
                graph,
                topic=topic,
                thread_id=thread,
                max_rounds=settings.max_rounds,
                prompts=prompts,
                experiment=experiment,
                max_cost=max_cost,
                review=review,
                token_budget=token_budget,
                inputs=inputs,
                until=until,
                time_limit=time_limit,
            )
            return await follow(stream, as_json, settings)

    with (
        local_model_for(settings) as settings,  # unchanged unless --local
        cassette_for(settings, tape, thread=thread, model_given=model is not None) as settings,
    ):
        result = execute(work)
    if result.status == "failed":
        raise typer.Exit(1)


def _may_continue(settings: Settings, thread_id: str | None) -> bool:
    """A run without a topic may continue `thread_id` if a checkpoint store exists."""
    url = settings.resolved_checkpoint_url
    return thread_id is not None and not (
        url.startswith("sqlite:") and not sqlite_path(url).exists()
    )


def resume(
    thread_id: Annotated[str, typer.Argument(help="The thread to continue.")],
    approve: Annotated[
        bool, typer.Option("--approve", help="Accept the draft a paused review shows.")
    ] = False,
    feedback: Annotated[
        str | None, typer.Option("--feedback", help="Send a paused review back with this note.")
    ] = None,
    section: Annotated[
        int | None,
        typer.Option(
            "--section",
            min=1,
            help="document: the section the answer is about (default: the first waiting).",
        ),
    ] = None,
    model: ModelFlag = None,
    as_json: JsonFlag = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the continuation to `copydesk worker`s.")
    ] = False,
    record: RecordFlag = None,
    replay: ReplayFlag = None,
    record_missing: RecordMissingFlag = None,
    timeout: TimeoutFlag = None,
) -> None:
    """Continue an interrupted or stopped thread, or answer a review it is waiting for."""
    settings = settings_from_flags(model=model)
    time_limit = checked_endings("", timeout)
    if approve and feedback is not None:
        err.print("copydesk: error: pass either --approve or --feedback, not both")
        raise typer.Exit(2)
    if feedback is not None and not feedback.strip():
        err.print('copydesk: error: the feedback is empty; pass --feedback "what to change"')
        raise typer.Exit(2)
    if section is not None and not (approve or feedback is not None):
        err.print("copydesk: error: --section goes with --approve or --feedback; add one")
        raise typer.Exit(2)
    answer: dict[str, Any] | None = None
    if approve:
        answer = {"action": "approve"}
    elif feedback is not None:
        answer = {"action": "feedback", "text": feedback.strip()}
    if answer is not None and section is not None:
        answer["section"] = section
    if queue:
        from copydesk.graphs.cli.queue import resume_queued

        resume_queued(settings, thread_id, answer, as_json, time_limit=time_limit)
        return
    require_existing_store(settings, thread_id)  # before the offline notice: one error line
    tape = tape_of(record=record, replay=replay, record_missing=record_missing, graph=None)
    require_writable_home(settings)

    async def work() -> RunResult:
        async with open_manager(settings) as manager:
            stream = manager.stream_resume(thread_id, answer=answer, time_limit=time_limit)
            return await follow(stream, as_json, settings)

    with cassette_for(settings, tape, thread=thread_id, model_given=model is not None) as settings:
        execute(work)


class _RunCommand(TyperCommand):
    """`copydesk run`, whose `--review` may name where a document pauses: `--review outline`
    (typer's options cannot take an optional value, so `--review POINT` and
    `--review=POINT` are read as `--review --review-at POINT` before parsing)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, review_point_args(args))


def review_point_args(args: list[str]) -> list[str]:
    """`args` with `--review POINT[,POINT]` and `--review=VALUE` as `--review --review-at
    ...` (a word after `--review` that is no review point stays as it was)."""
    from copydesk.agents.document import REVIEW_POINTS

    out: list[str] = []
    for n, arg in enumerate(args):
        if arg == "--":
            return out + args[n:]
        before = args[n - 1] if n else ""
        if arg.startswith("--review="):
            out += ["--review", "--review-at", arg.split("=", 1)[1]]
        elif before == "--review" and all(p.strip() in REVIEW_POINTS for p in arg.split(",")):
            out += ["--review-at", arg]
        else:
            out.append(arg)
    return out


def stop(
    thread_id: Annotated[str, typer.Argument(help="The running thread to stop.")],
    as_json: JsonFlag = False,
) -> None:
    """Stop a running thread (here or in another process) after the step in progress; it is
    saved with `ended_by: stopped` and `copydesk resume` continues it."""
    settings = settings_from_flags()
    check_thread_id(thread_id)
    require_existing_store(settings, thread_id)
    queued = settings.resolved_checkpoint_url.startswith(("postgresql://", "postgres://"))

    async def work() -> StopAnswer:
        async with open_manager(settings) as manager:
            if queued:  # the workers' threads: a queued one does not start
                try:
                    from copydesk.graphs.queue.stop import stop_queued
                except ImportError:  # pragma: no cover - no `queue` extra: a plain stop
                    return await manager.stop(thread_id)
                return await stop_queued(manager, settings, thread_id)
            return await manager.stop(thread_id)

    answer = execute(work)
    if as_json:
        out.print_json(json.dumps(answer.as_json()))
    else:
        out.print(answer.message(), markup=False)


def register(app: typer.Typer) -> None:
    """Add `copydesk run`, `copydesk resume` and `copydesk stop` to `app`."""
    app.command(cls=_RunCommand)(run)
    app.command()(resume)
    app.command()(stop)
