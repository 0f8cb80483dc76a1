"""Running an evaluation suite: every case x variant x repeat, concurrently, each scored.

All runs share one conversation manager's checkpoints and store, and one rate limiter: a
variant on another model gets a client of its own on the same `LimiterRegistry`, and so does
the judge (`judge_model`). At most `concurrency` runs go at once. Each run's task carries
its lane (`case/variant/repeat`), so a recorded eval replays each run's calls to the run that
made them however the runs interleave. A run is scored when it ends
(`reports.eval_scores`), and its final draft judged on the rubric when the suite has one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from copydesk.agents.client.sites import in_lane
from copydesk.graphs.reports.eval_scores import DraftScores, score_thread

if TYPE_CHECKING:
    from copydesk.agents.client import OpenAIClient
    from copydesk.agents.rubric import Judgement, RubricJudge
    from copydesk.agents.settings import Settings
    from copydesk.graphs.eval_suite import Case, Suite, Variant
    from copydesk.graphs.manager import ConversationManager

__all__ = [
    "Lane",
    "RunRecord",
    "client_for",
    "inputs_of",
    "lanes_of",
    "overrides_of",
    "run_suite",
    "score_run",
    "thread_of",
]

log = logging.getLogger("copydesk.eval")


@dataclass(frozen=True)
class RunRecord:
    """One finished run and its scores."""

    case: int
    variant: str
    repeat: int
    thread_id: str
    status: str
    rounds: int
    scores: DraftScores
    judge: Judgement | None
    tokens: int
    cost_usd: float
    final_draft: str = ""

    @property
    def key(self) -> tuple[int, int]:
        """What pairs it with the other variants' runs: (case, repeat)."""
        return self.case, self.repeat

    def as_json(self) -> dict[str, Any]:
        judge = self.judge
        return {
            "case": self.case,
            "variant": self.variant,
            "repeat": self.repeat,
            "thread_id": self.thread_id,
            "status": self.status,
            "rounds": self.rounds,
            "scores": self.scores.as_json(),
            "judge": None
            if judge is None
            else {
                "mean": judge.mean,
                "scores": dict(judge.scores),
                "quotes": dict(judge.quotes),
                "grounded": dict(judge.grounded),
            },
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "final_draft": self.final_draft,
        }


def client_for(settings: Settings, model: str, shared: OpenAIClient) -> OpenAIClient:
    """A client of `model` on the limiters of `shared` (itself when the model is its own)."""
    if model == settings.model:
        return shared
    from copydesk.agents.client import OpenAIClient

    client = OpenAIClient.from_settings(settings.model_copy(update={"model": model}))
    client.limiters = shared.limiters  # one budget per endpoint, model and key, shared
    return client


def _totals(usage: Mapping[str, Mapping[str, Any]]) -> tuple[int, float]:
    total = usage.get("total") or {}
    tokens = int(total.get("prompt_tokens", 0)) + int(total.get("completion_tokens", 0))
    return tokens, float(total.get("cost_usd", 0.0))


async def run_suite(
    suite: Suite,
    base: ConversationManager,
    *,
    stamp: str,
    judge: RubricJudge | None = None,
) -> list[RunRecord]:
    """Run every case x variant x repeat of `suite` on `base`'s checkpoints, store and
    limiter; thread ids start with `stamp`."""
    from copydesk.graphs.manager import ConversationManager

    settings = base.settings
    managers: dict[str, ConversationManager] = {}
    for variant in suite.variants:
        model = variant.model or settings.model
        if model not in managers:
            client = client_for(settings, model, base.client)
            managers[model] = (
                base
                if client is base.client
                else ConversationManager(
                    settings.model_copy(update={"model": model}),
                    client=client,
                    checkpointer=base.checkpointer,
                    store=base.store,
                )
            )
    gate = asyncio.Semaphore(suite.concurrency)

    async def one(n: int, case: Case, variant: Variant, repeat: int) -> RunRecord:
        in_lane(f"{n}/{variant.name}/{repeat}")  # this task's calls, on a cassette
        manager = managers[variant.model or settings.model]
        thread = thread_of(stamp, n, variant, repeat)
        async with gate:
            result = await manager.run(
                variant.graph,
                topic=case.topic,
                thread_id=thread,
                max_rounds=suite.max_rounds,
                prompts=overrides_of(variant),
                inputs=inputs_of(case, variant),
            )
            return await score_run(
                manager, judge, (n, case, variant, repeat), thread, result.as_json()
            )

    jobs = [one(*lane) for lane in lanes_of(suite)]
    try:
        return list(await asyncio.gather(*jobs))
    finally:
        for manager in managers.values():
            if manager is not base:
                await manager.client.aclose()


Lane = tuple[int, "Case", "Variant", int]
"""One run of a suite: (case number from 1, case, variant, repeat from 1)."""


def lanes_of(suite: Suite) -> list[Lane]:
    """Every case x variant x repeat of `suite`, in report order."""
    return [
        (n, case, variant, repeat)
        for n, case in enumerate(suite.cases, 1)
        for variant in suite.variants
        for repeat in range(1, suite.repeats + 1)
    ]


def thread_of(stamp: str, n: int, variant: Variant, repeat: int) -> str:
    """The thread id of one run of the eval `stamp`."""
    return f"{stamp}-c{n}-{variant.name}-r{repeat}"


async def score_run(
    manager: ConversationManager,
    judge: RubricJudge | None,
    lane: Lane,
    thread: str,
    result: Mapping[str, Any],
) -> RunRecord:
    """Score a finished run from its thread's checkpoints (read through `manager`) and its
    result (`RunResult.as_json()`, wherever it ran), and judge its final draft."""
    n, case, variant, repeat = lane
    values = await manager.values(thread)
    final_draft = str(result.get("final_draft", ""))
    judged = await _judged(judge, case.topic, final_draft)
    tokens, cost = _totals(result.get("usage") or {})
    if judged is not None:
        tokens += judged.usage["prompt_tokens"] + judged.usage["completion_tokens"]
        cost += float(judged.usage.get("cost_usd", 0.0))
    return RunRecord(
        case=n,
        variant=variant.name,
        repeat=repeat,
        thread_id=thread,
        status=str(result["status"]),
        rounds=int(result["rounds"]),
        scores=score_thread(values, words=case.words, sources=_sources(case)),
        judge=judged,
        tokens=tokens,
        cost_usd=cost,
        final_draft=final_draft,
    )


async def _judged(judge: RubricJudge | None, topic: str, draft: str) -> Judgement | None:
    """The judge's scores, or None when it gave no valid reply (a small model may not): the
    run keeps its other scores, and the report counts the runs left unjudged."""
    from copydesk.agents.errors import ModelOutputError

    if judge is None:
        return None
    try:
        return await judge.judge(topic, draft)
    except ModelOutputError as error:
        log.warning("%s; this run is left unjudged", error)
        return None


def overrides_of(variant: Variant) -> dict[str, str]:
    """The variant's prompts, agent -> NAME@VERSION."""
    return {ref.split("@", 1)[0]: ref for ref in variant.prompts}


def inputs_of(case: Case, variant: Variant) -> dict[str, Any]:
    """The state values a case gives a variant's topology (the document's outline, words and
    sources; nothing for the others)."""
    from copydesk.graphs.document_input import DOCUMENT_GRAPH, document_inputs

    if variant.graph != DOCUMENT_GRAPH:
        return {}
    return document_inputs(
        variant.graph,
        topic=case.topic,
        outline=case.outline,
        words=case.words,
        sources=list(case.sources) or None,
    )


def _sources(case: Case) -> list[Any]:
    from copydesk.memory.sources import source_record

    return [
        source_record(n, path.name, path.read_text(encoding="utf-8"))
        for n, path in enumerate(case.sources, 1)
    ]
