"""`copydesk prompts ...`: list, show, diff, lint and release prompt versions; list A/B
experiments and report on them. Also the `--prompt` / `--experiment` flags other commands
(`run`, later `fork`) share, validated before anything is written."""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from copydesk.graphs.cli.common import JsonFlag, err, execute, out, settings_from_flags
from copydesk.graphs.prompting import PromptChoice, find_experiment
from copydesk.graphs.reports.ab_report import ABReport, build_report, outcomes
from copydesk.memory.checkpoint import open_checkpointer, sqlite_path
from copydesk.prompts.errors import PromptError
from copydesk.prompts.experiments import load_experiments
from copydesk.prompts.lint import lint as lint_registry
from copydesk.prompts.overrides import prompt_overrides
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry
from copydesk.prompts.released import ReleaseLock

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = ["ExperimentFlag", "PromptFlag", "checked_prompt_flags", "register", "registry_of"]

PromptFlag = Annotated[
    list[str] | None,
    typer.Option(
        "--prompt",
        help="Prompt version for one agent, NAME@VERSION or NAME@LABEL (editor@v2, "
        "editor@candidate). Repeatable.",
    ),
]
ExperimentFlag = Annotated[
    str | None,
    typer.Option(
        "--experiment", help="Run in this A/B experiment (`copydesk prompts experiments`)."
    ),
]

prompts_app = typer.Typer(
    help="Versioned prompt templates, labels and A/B experiments.", no_args_is_help=True
)


def registry_of(settings: Settings) -> PromptRegistry:
    """The prompt folder the settings point at (the shipped one by default)."""
    return PromptRegistry(settings.prompts_dir or DEFAULT_PROMPTS_DIR)


def _fail(error: PromptError) -> typer.Exit:
    err.print(f"copydesk: error: {error}", markup=False)
    return typer.Exit(2)


def checked_prompt_flags(
    settings: Settings, refs: list[str] | None, experiment: str | None = None
) -> dict[str, str]:
    """`--prompt` values as `{agent: name@version}`, checked together with `--experiment`.

    On a bad value, prints one error line and exits 2 before anything is written. Wiring
    `--prompt` into another command is `prompts=checked_prompt_flags(settings, prompt)`.
    """
    registry = registry_of(settings)
    try:
        overrides = prompt_overrides(refs or [], registry)
        # Every prompt a run may load (writer, editor, each one with a `production` label),
        # loaded now: a broken prompt folder is one line before the run writes anything.
        labels = registry.labels()
        for name in sorted({"writer", "editor", *labels}):
            if (
                name in overrides
                or "production" in labels.get(name, {})
                or name
                in (
                    "writer",
                    "editor",
                )
            ):
                registry.get(overrides.get(name) or f"{name}@production")
        if experiment is not None:
            PromptChoice.choose(registry, "check", overrides=overrides, experiment=experiment)
    except PromptError as error:
        raise _fail(error) from None
    return overrides


@prompts_app.command("list")
def list_prompts(as_json: JsonFlag = False) -> None:
    """Every prompt version with its labels, release state, model parameters and description."""
    registry = registry_of(settings_from_flags())
    try:
        labels, released = registry.labels(), ReleaseLock(registry).hashes()
        rows: list[dict[str, Any]] = []
        for name in registry.names():
            for version in registry.versions(name):
                template = registry.get(f"{name}@{version}")
                rows.append(
                    {
                        "ref": template.ref,
                        "name": name,
                        "version": version,
                        "labels": sorted(
                            k for k, v in labels.get(name, {}).items() if v == version
                        ),
                        "released": version in released.get(name, {}),
                        "params": template.model_params,
                        "description": template.description,
                    }
                )
    except PromptError as error:
        raise _fail(error) from None
    if as_json:
        out.print_json(json.dumps(rows))
        return
    width = max((len(row["ref"]) for row in rows), default=0)
    for row in rows:
        tags = ", ".join([*row["labels"], "released" if row["released"] else "unreleased"])
        params = "".join(f"{name}={value}  " for name, value in row["params"].items())
        out.print(f"{row['ref']:<{width}}  [{tags}]  {params}{row['description']}", markup=False)


@prompts_app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@LABEL, e.g. editor@candidate.")],
    as_json: JsonFlag = False,
) -> None:
    """Print one prompt version: the resolved version and its file."""
    registry = registry_of(settings_from_flags())
    try:
        template = registry.get(ref)
    except PromptError as error:
        raise _fail(error) from None
    text = registry.path(template.name, template.version).read_text(encoding="utf-8")
    if as_json:
        fields = {"ref": template.ref, "description": template.description}
        parts = {"system": template.system, "first": template.first, "revise": template.revise}
        extra = {"variables": list(template.variables), "params": template.model_params}
        out.print_json(json.dumps({**fields, **extra, **parts}))
        return
    out.print(f"# {template.ref}  ({ref})\n{text}", markup=False)


@prompts_app.command()
def diff(
    name: Annotated[str, typer.Argument(help="Prompt name, e.g. editor.")],
    old: Annotated[str, typer.Argument(help="Version or label to compare from.")],
    new: Annotated[str, typer.Argument(help="Version or label to compare to.")],
) -> None:
    """Unified diff between two versions of a prompt."""
    registry = registry_of(settings_from_flags())
    try:
        (_, a), (_, b) = registry.resolve(f"{name}@{old}"), registry.resolve(f"{name}@{new}")
    except PromptError as error:
        raise _fail(error) from None
    before, after = (
        registry.path(name, v).read_text(encoding="utf-8").splitlines(True) for v in (a, b)
    )
    lines = difflib.unified_diff(before, after, fromfile=f"{name}@{a}", tofile=f"{name}@{b}")
    out.print("".join(lines), end="", markup=False)


@prompts_app.command()
def lint() -> None:
    """Check every version, release hash, label and experiment; exit 1 on a problem."""
    report = lint_registry(registry_of(settings_from_flags()))
    for note in report.notes:
        out.print(f"note: {note}", markup=False)
    for problem in report.problems:
        err.print(f"copydesk: lint: {problem}", markup=False)
    if not report.ok:
        raise typer.Exit(1)
    out.print("prompts ok")


@prompts_app.command()
def release(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to release, e.g. editor@v3.")],
) -> None:
    """Record a version's content hash: from now on it must never be edited."""
    registry = registry_of(settings_from_flags())
    try:
        done = ReleaseLock(registry).release(ref)
    except PromptError as error:
        raise _fail(error) from None
    out.print(f"released {done} (hash in {registry.root / 'released.toml'})", markup=False)


@prompts_app.command()
def experiments(as_json: JsonFlag = False) -> None:
    """The declared A/B experiments with their variants and weights."""
    try:
        found = load_experiments(registry_of(settings_from_flags()))
    except PromptError as error:
        raise _fail(error) from None
    rows = [e.as_json() for e in found.values()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        arms = "  ".join(f"{v['name']}={v['ref']} ({v['share']:.0%})" for v in row["variants"])
        out.print(
            f"{row['name']:<16} {row['prompt']:<8} {arms}  {row['description']}", markup=False
        )


@prompts_app.command("ab-report")
def ab_report(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    price: Annotated[
        float | None,
        typer.Option(
            "--price-per-1k", min=0, help="Price of 1,000 tokens (COPYDESK_PRICE_PER_1K_TOKENS)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Per variant, from the recorded threads: approval rate, rounds, tokens, cost, significance."""
    settings = settings_from_flags(price_per_1k_tokens=price)
    try:
        experiment = find_experiment(registry_of(settings), name)
    except PromptError as error:
        raise _fail(error) from None

    async def work() -> ABReport:
        url = settings.resolved_checkpoint_url
        threads = []
        if not (url.startswith("sqlite:") and not sqlite_path(url).exists()):
            async with open_checkpointer(url) as checkpointer:
                threads = await outcomes(checkpointer, experiment.name)
        return build_report(experiment, threads, price_per_1k_tokens=settings.price_per_1k_tokens)

    report = execute(work)
    if as_json:
        out.print_json(json.dumps(report.as_json()))
        return
    _print_report(report)


def _print_report(report: ABReport) -> None:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    out.print(f"experiment {report.experiment} (prompt {report.prompt})", markup=False)
    out.print(
        f"{'variant':<12} {'prompt':<12} {'threads':>7} {'finished':>8} {'approved':>8} "
        f"{'rate':>7} {'rounds':>6} {'tokens':>9} {'cost':>10} {'issues':>7} {'p':>7}  significant",
        markup=False,
    )
    for v in report.variants:
        rounds = "-" if v.mean_rounds_to_approval is None else f"{v.mean_rounds_to_approval:.2f}"
        p = "-" if v.p_value is None else f"{v.p_value:.4f}"
        sig = "-" if v.significant is None else ("yes" if v.significant else "no")
        out.print(
            f"{v.variant:<12} {v.prompt:<12} {v.threads:>7} {v.finished:>8} {v.approved:>8} "
            f"{pct(v.approval_rate):>7} {rounds:>6} {v.tokens:>9} {v.cost:>10.4f} "
            f"{pct(v.issues_addressed):>7} {p:>7}  {sig}",
            markup=False,
        )
    out.print(f"test: {report.test}", markup=False)
    out.print("issues: share of editor issues whose quoted passage the next draft changed")
    for note in report.notes:
        out.print(f"note: {note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `copydesk prompts ...` to the main app."""
    app.add_typer(prompts_app, name="prompts")
