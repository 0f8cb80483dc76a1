"""The A/B report of a prompt experiment, computed from the threads in the checkpoint store.

Per variant: threads, finished threads, approval rate, mean rounds to approval, tokens, cost,
the share of editor issues the next draft addressed (`copydesk.graphs.reports.issue_tracking`),
and, for each
variant against the control (the first variant), Fisher's exact test on the approval rate.
Each thread counts once, by its latest checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from copydesk.graphs.reports._stats import fisher_exact
from copydesk.graphs.reports.issue_tracking import IssueSummary, summarize
from copydesk.prompts.experiments import Experiment

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from copydesk.agents.state import DraftState

__all__ = ["ABReport", "ThreadOutcome", "VariantStats", "build_report", "cost_of", "outcomes"]

TEST_NAME = "Fisher's exact test (two-sided) on approval rate, each variant vs the control"
ALPHA = 0.05
_FINISHED = ("approved", "out_of_rounds")


@dataclass(frozen=True)
class ThreadOutcome:
    """How one thread of the experiment ended."""

    thread_id: str
    variant: str
    status: str
    rounds: int
    tokens: int
    cost_usd: float = 0.0
    """What the thread's calls cost, as the client priced each one (its price table)."""
    issues: IssueSummary = field(default_factory=IssueSummary)
    """The thread's editor issues by state (addressed, still there, ...)."""


@dataclass(frozen=True)
class VariantStats:
    """One variant's numbers."""

    variant: str
    prompt: str
    threads: int
    finished: int
    approved: int
    approval_rate: float | None
    mean_rounds_to_approval: float | None
    tokens: int
    cost: float
    issues_addressed: float | None
    """Share of the variant's followed issues that the next draft addressed (None: none)."""
    p_value: float | None
    significant: bool | None


@dataclass(frozen=True)
class ABReport:
    """The whole report."""

    experiment: str
    prompt: str
    test: str
    alpha: float
    variants: list[VariantStats]
    notes: list[str]

    def as_json(self) -> dict[str, Any]:
        """JSON form, as `copydesk prompts ab-report --json` prints it."""
        return {**asdict(self), "variants": [asdict(v) for v in self.variants]}


def cost_of(tokens: int, price_per_1k_tokens: float | None) -> float:
    """The cost of `tokens` at a flat price per 1,000 tokens (0 when there is no price).

    A flat price overrides the per-call costs the client recorded from its price table.
    """
    return round(tokens / 1000 * price_per_1k_tokens, 6) if price_per_1k_tokens else 0.0


async def outcomes(checkpointer: BaseCheckpointSaver[str], experiment: str) -> list[ThreadOutcome]:
    """The outcome of every thread recorded under `experiment`, from its latest checkpoint."""
    latest: dict[str, Any] = {}
    async for item in checkpointer.alist(None, filter={"experiment": experiment}):
        configurable = item.config["configurable"]
        if configurable.get("checkpoint_ns"):
            continue  # a subgraph's checkpoint belongs to its parent thread
        thread_id = str(configurable["thread_id"])
        known = latest.get(thread_id)
        if known is None or item.checkpoint["id"] > known.checkpoint["id"]:
            latest[thread_id] = item
    # Drafts and verdicts are delta channels, absent from a checkpoint's own values: a graph
    # over the shared state replays them (read after listing: SQLite's saver holds its lock
    # while it lists).
    from langgraph.graph import START, StateGraph

    from copydesk.agents.state import DraftState

    builder = StateGraph(DraftState)
    builder.add_node("read", _nothing)
    builder.add_edge(START, "read")
    reader = builder.compile(checkpointer=checkpointer)
    found = []
    for thread_id, item in sorted(latest.items()):
        values = item.checkpoint.get("channel_values", {})
        replayed = (await reader.aget_state(item.config)).values
        record = values.get("experiment") or {}
        usage = values.get("usage") or {}
        found.append(
            ThreadOutcome(
                thread_id=thread_id,
                variant=str(record.get("variant") or item.metadata.get("variant", "")),
                status=str(values.get("status", "running")),
                rounds=int(values.get("round", 0)),
                tokens=sum(
                    int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
                    for u in usage.values()
                ),
                cost_usd=sum(float(u.get("cost_usd", 0.0)) for u in usage.values()),
                issues=summarize(replayed.get("revisions"), replayed.get("verdicts")),
            )
        )
    return found


def _nothing(state: DraftState) -> DraftState:  # pragma: no cover - the reader is never run
    return {}


def build_report(
    experiment: Experiment,
    threads: Iterable[ThreadOutcome],
    *,
    price_per_1k_tokens: float | None = None,
) -> ABReport:
    """Per-variant numbers and the significance of each variant against the control."""
    by_variant: dict[str, list[ThreadOutcome]] = {v.name: [] for v in experiment.variants}
    for thread in threads:
        by_variant.setdefault(thread.variant, []).append(thread)
    refs = {v.name: v.ref for v in experiment.variants}
    control = experiment.variants[0].name
    control_finished = [t for t in by_variant[control] if t.status in _FINISHED]
    control_approved = sum(t.status == "approved" for t in control_finished)
    stats = []
    for name, group in by_variant.items():
        finished = [t for t in group if t.status in _FINISHED]
        approved = [t for t in finished if t.status == "approved"]
        tokens = sum(t.tokens for t in group)
        issues = sum((t.issues for t in group), IssueSummary())
        p_value: float | None = None
        if name != control and finished and control_finished:
            p_value = fisher_exact(
                len(approved),
                len(finished) - len(approved),
                control_approved,
                len(control_finished) - control_approved,
            )
        stats.append(
            VariantStats(
                variant=name,
                prompt=refs.get(name, "?"),
                threads=len(group),
                finished=len(finished),
                approved=len(approved),
                approval_rate=len(approved) / len(finished) if finished else None,
                mean_rounds_to_approval=(
                    sum(t.rounds for t in approved) / len(approved) if approved else None
                ),
                tokens=tokens,
                cost=(
                    cost_of(tokens, price_per_1k_tokens)
                    if price_per_1k_tokens
                    else round(sum(t.cost_usd for t in group), 6)
                ),
                issues_addressed=issues.share,
                p_value=p_value,
                significant=None if p_value is None else p_value < ALPHA,
            )
        )
    notes = [f"control: {control}; significant means p < {ALPHA}"]
    if not price_per_1k_tokens:
        if any(v.cost for v in stats):
            notes.append("cost: as each call was priced by the price table (COPYDESK_PRICES)")
        else:
            notes.append(
                "cost is 0: no call was priced (offline model, or a model missing from the "
                "price table: COPYDESK_PRICES) and no flat price set "
                "(COPYDESK_PRICE_PER_1K_TOKENS or --price-per-1k)"
            )
    unknown = sorted(set(by_variant) - set(refs))
    if unknown:
        notes.append(f"threads recorded under variants no longer declared: {', '.join(unknown)}")
    return ABReport(experiment.name, experiment.prompt, TEST_NAME, ALPHA, stats, notes)
