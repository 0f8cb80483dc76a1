"""`copydesk fork`: start a new thread from any checkpoint of an old one and run it on."""

from __future__ import annotations

from typing import Annotated

import typer

from copydesk.graphs.cli.cassettes import (
    RecordFlag,
    RecordMissingFlag,
    ReplayFlag,
    cassette_for,
    tape_of,
)
from copydesk.graphs.cli.common import (
    JsonFlag,
    ModelFlag,
    execute,
    follow,
    open_manager,
    require_existing_store,
    require_writable_home,
    settings_from_flags,
)
from copydesk.graphs.cli.prompts import PromptFlag, checked_prompt_flags
from copydesk.graphs.events import RunResult

__all__ = ["register"]


def fork(
    thread_id: Annotated[str, typer.Argument(help="The thread to fork.")],
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", help="Checkpoint id (see `copydesk history`).")
    ],
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="key=value to change in the fork (topic, draft, max_rounds, round, "
            "token_budget, review, ...; an unknown key lists them all); repeatable.",
        ),
    ] = None,
    new_thread_id: Annotated[
        str | None, typer.Option("--thread-id", help="Id of the new thread (default: generated).")
    ] = None,
    prompt: PromptFlag = None,
    model: ModelFlag = None,
    as_json: JsonFlag = False,
    record: RecordFlag = None,
    replay: ReplayFlag = None,
    record_missing: RecordMissingFlag = None,
) -> None:
    """Start a new thread from a checkpoint of THREAD_ID (values changed by --set, prompts by
    --prompt: a counterfactual replay of the same history) and run it."""
    settings = settings_from_flags(model=model)
    from copydesk.graphs.fork import parse_assignments  # LangGraph loads here

    values = parse_assignments(assignments or [])  # checked before anything is opened
    prompts = checked_prompt_flags(settings, prompt)
    require_existing_store(settings, thread_id)
    tape = tape_of(record=record, replay=replay, record_missing=record_missing, graph=None)
    require_writable_home(settings)
    if tape is not None:  # named now, so that a replay forks under the recorded name
        from copydesk.graphs.transcript import make_thread_id

        new_thread_id = new_thread_id or tape.thread or make_thread_id()

    async def work() -> RunResult:
        async with open_manager(settings) as manager:
            stream = manager.fork(
                thread_id, checkpoint, values=values, new_thread_id=new_thread_id, prompts=prompts
            )
            return await follow(stream, as_json, settings)

    with cassette_for(
        settings, tape, thread=new_thread_id or "", model_given=model is not None
    ) as settings:
        execute(work)


def register(app: typer.Typer) -> None:
    """Add `copydesk fork` to `app`."""
    app.command("fork")(fork)
