"""`copydesk eval SUITE.toml`: run a suite, score every run, compare the variants.

Everything the suite names is checked before any run (its cases, variants, topologies,
prompt versions, files and rubric, the judge's prompt, the cassette flags): a mistake is one
line, exit 2, nothing written. With `--queue` the runs go to the workers
(`copydesk.graphs.eval_queue`) and come back through the checkpoint database they share. The
report is saved under `COPYDESK_HOME/evals/` (what the eval page of `copydesk serve` draws)
and shown as a table, or printed whole with `--json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    LocalFlag,
    ModelFlag,
    announce_offline,
    execute,
    local_model_for,
    open_manager,
    out,
    require_topology,
    require_writable_home,
    settings_from_flags,
)
from copydesk.graphs.cli.prompts import registry_of

if TYPE_CHECKING:
    from copydesk.agents.rubric import RubricJudge
    from copydesk.agents.settings import Settings
    from copydesk.graphs.eval_run import RunRecord
    from copydesk.graphs.eval_suite import Suite
    from copydesk.graphs.manager import ConversationManager

__all__ = ["register"]


def eval_command(
    suite_path: Annotated[Path, typer.Argument(metavar="SUITE", help="The suite (TOML).")],
    judge_model: Annotated[
        str | None,
        typer.Option("--judge-model", help="The judge's model (default: the writers')."),
    ] = None,
    judge_prompt: Annotated[
        str, typer.Option("--judge-prompt", help="The judge's prompt, NAME@VERSION.")
    ] = "rubric_judge@production",
    model: ModelFlag = None,
    as_json: JsonFlag = False,
    local: LocalFlag = False,
    record: RecordFlag = None,
    replay: ReplayFlag = None,
    record_missing: RecordMissingFlag = None,
    queue: Annotated[
        bool,
        typer.Option("--queue", help="Hand the runs to `copydesk worker`s; score them here."),
    ] = False,
) -> None:
    """Run every case x variant x repeat of SUITE, score each run, and compare the variants.

    With --queue the runs go to `copydesk worker` processes (which must share this
    PostgreSQL checkpoint database and the broker); they are scored here once all have ended.
    """
    from copydesk.graphs.eval_suite import load_suite

    # Without the memory store: a run must not recall what another run of the suite wrote
    # (its score would depend on which ran first, and a replay could not match).
    flags = settings_from_flags(model=model, local=local or None)
    settings = flags.model_copy(update={"memory": False})
    suite = load_suite(suite_path)
    _check(settings, suite, judge_prompt)
    if queue:
        _check_queue(settings, local=local, cassette=bool(record or replay or record_missing))
    graphs = ",".join(sorted({v.graph for v in suite.variants}))
    tape = tape_of(record=record, replay=replay, record_missing=record_missing, graph=graphs)
    require_writable_home(settings)
    from copydesk.graphs.transcript import make_thread_id

    stamp = f"eval-{make_thread_id()}"

    async def work() -> dict[str, Any]:
        from copydesk.agents.rubric import RubricJudge
        from copydesk.graphs.eval_run import client_for, run_suite
        from copydesk.graphs.reports.eval_report import eval_report

        async with open_manager(settings) as manager:
            announce_offline(settings, as_json)
            judge = None
            client = client_for(settings, judge_model or settings.model, manager.client)
            if suite.rubric:
                prompt = registry_of(settings).get(judge_prompt)
                judge = RubricJudge(prompt, client, suite.rubric)
            try:
                if queue:
                    runs = await _queued(suite, manager, stamp, judge, as_json)
                else:
                    runs = await run_suite(suite, manager, stamp=stamp, judge=judge)
            finally:
                if client is not manager.client:
                    await client.aclose()
        return eval_report(suite.name, runs) | {"id": stamp, "judge_prompt": judge_prompt}

    with (
        local_model_for(settings) as settings,  # unchanged unless --local
        cassette_for(settings, tape, thread=stamp, model_given=model is not None) as settings,
    ):
        report = execute(work)
    folder = settings.home / "evals"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stamp}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    if as_json:
        out.print_json(json.dumps(report))
    else:
        _show(report)


def _check(settings: Settings, suite: Suite, judge_prompt: str) -> None:
    """Every topology, prompt version, document input and the judge's prompt, loaded now."""
    from copydesk.graphs.errors import InputError
    from copydesk.graphs.eval_run import inputs_of
    from copydesk.prompts.errors import PromptError
    from copydesk.prompts.overrides import prompt_overrides

    registry = registry_of(settings)
    for variant in suite.variants:
        require_topology(settings, variant.graph)
        try:
            prompt_overrides(variant.prompts, registry)
        except PromptError as error:
            raise InputError(f"suite {suite.path}: variant {variant.name}: {error}") from None
        for case in suite.cases:
            inputs_of(case, variant)
    if suite.rubric:
        try:
            registry.get(judge_prompt)
        except PromptError as error:
            raise InputError(f"--judge-prompt: {error}") from None


def _check_queue(settings: Settings, *, local: bool, cassette: bool) -> None:
    """`--queue` runs on the workers' model and reads their threads from a shared database."""
    from copydesk.graphs.errors import InputError
    from copydesk.graphs.queue.producer import require_postgres

    if local:
        raise InputError(
            "--local does not go with --queue: the workers call their own model; leave one out"
        )
    if cassette:
        raise InputError(
            "--record, --replay and --record-missing do not go with --queue: the workers make "
            "the calls; run without --queue to record or replay"
        )
    require_postgres(settings)


async def _queued(
    suite: Suite, manager: ConversationManager, stamp: str, judge: RubricJudge | None, quiet: bool
) -> list[RunRecord]:
    """The suite run by the workers, with a progress bar on stderr (gone afterwards with --json)."""
    from copydesk.graphs.cli.queue import job_progress
    from copydesk.graphs.eval_queue import queue_suite

    progress, show = job_progress("runs on the workers", transient=quiet)

    with progress:
        return await queue_suite(suite, manager, stamp=stamp, judge=judge, progress=show)


def _show(report: dict[str, Any]) -> None:
    from rich.table import Table

    from copydesk.graphs.reports.eval_report import table_rows

    names = list(report["variants"])
    table = Table(title=f"{report['suite']} ({report['id']})", title_justify="left")
    table.add_column("metric")
    for name in names:
        table.add_column(f"{name}: mean [95% CI]")
    table.add_column("winner")
    for row in table_rows(report):
        table.add_row(*row)
    out.print(table)
    spread = report["judge_spread"]
    if spread["max_range"] is not None:
        out.print(
            f"judge spread: up to {spread['max_range']} over {spread['identical_drafts']} "
            "group(s) of identical drafts"
        )
    out.print(f"saved: evals/{report['id']}.json (see `copydesk serve`)")


def register(app: typer.Typer) -> None:
    """Add `copydesk eval` to `app`."""
    app.command("eval")(eval_command)
