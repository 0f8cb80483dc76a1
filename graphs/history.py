"""A thread's history read from its checkpoints: where it stands now and every step before.

`run_result` turns the latest state snapshot into the `RunResult` every run ends with (its
status told apart from a pause for review or a kill mid-step, its usage totalled);
`read_history` reads each checkpoint with the topology that wrote it (a thread may move
between topologies) and lists them as the `CheckpointInfo` rows `copydesk history` shows.
Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

from copydesk.agents.document import by_section
from copydesk.agents.style_sheet import style_rules
from copydesk.graphs.events import CheckpointInfo, RunResult
from copydesk.graphs.prompting import PromptChoice
from copydesk.graphs.reports.issue_tracking import summarize_thread
from copydesk.graphs.starts import section_of

__all__ = ["checkpoint_infos", "read_history", "run_result", "waiting_first"]


def run_result(
    snapshot: StateSnapshot, *, thread_id: str, graph: str, model: str, stopped_by: str = ""
) -> RunResult:
    """Where the thread stands at `snapshot` (its latest).

    Args:
        snapshot: The thread's latest state.
        thread_id: The thread.
        graph: The topology that wrote the snapshot.
        model: The label of the model the agents speak through.
        stopped_by: `stopped` or `timeout` when the run was stopped at `snapshot`
            (`copydesk.graphs.stopping`): the result is `interrupted` and says so.
    """
    values = snapshot.values
    status = str(values.get("status", "running"))
    pending = waiting_first(i.value for i in snapshot.interrupts)
    if pending:
        status = "waiting_for_review"
    elif snapshot.next or snapshot.tasks:  # tasks: a kill between writes and checkpoint
        status = "interrupted"
    verdicts = values.get("verdicts") or []
    return RunResult(
        thread_id=thread_id,
        graph=graph,
        status=status,
        rounds=int(values.get("round", 0)),
        final_draft=str(values.get("draft", "")),
        verdict=dict(verdicts[-1]) if verdicts else None,
        usage=_usage_with_total(values.get("usage") or {}),
        model=model,
        next=tuple(snapshot.next),
        prompts=dict(values.get("prompts") or {}),
        experiment=dict(values.get("experiment") or {}),
        ended_by=str(values.get("ended_by") or "")
        if not (snapshot.next or snapshot.tasks)
        else stopped_by,
        review=pending[0] if pending else None,
        issues_addressed=summarize_thread(values).as_json(),
        style_sheet=[dict(r) for r in style_rules(values.get("style_sheet"))],
        fact_ledger=[dict(f) for f in by_section(values.get("fact_ledger"))],
    )


def waiting_first(values: Iterable[Any]) -> list[Any]:
    """The pauses' values, the one an answer goes to first: with several sections of a long
    document waiting, the lowest numbered, which also lists them all (`waiting`)."""
    pending = list(values)
    sections = sorted((n, v) for v in pending if (n := section_of(v)) is not None)
    if len(sections) < 2:
        return pending
    first = {**sections[0][1], "waiting": [n for n, _ in sections]}
    return [first, *(v for _, v in sections[1:])]


def _usage_with_total(by_agent: dict[str, Any]) -> dict[str, Any]:
    usage = dict(by_agent)
    total: dict[str, Any] = {
        key: sum(int(u.get(key, 0)) for u in usage.values())
        for key in ("calls", "prompt_tokens", "completion_tokens")
    }
    total["cost_usd"] = round(sum(float(u.get("cost_usd", 0.0)) for u in usage.values()), 6)
    estimated = sum(int(u.get("estimated_calls", 0)) for u in usage.values())
    if estimated:  # tokens counted locally: the server reported none
        total["estimated_calls"] = estimated
    usage["total"] = total
    return usage


async def read_history(
    saver: BaseCheckpointSaver[str],
    thread_id: str,
    compiled: Callable[[str], CompiledStateGraph[Any, Any, Any, Any]],
) -> list[CheckpointInfo]:
    """Every checkpoint of a thread, newest first.

    Args:
        saver: The open checkpointer.
        thread_id: A thread that exists.
        compiled: The compiled topology of a name: each checkpoint is read with the one that
            its metadata names.
    """
    # Listed first, read after: SQLite's saver holds its lock while listing.
    items = [
        item
        async for item in saver.alist(
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        )
    ]
    snapshots = [
        await compiled(str(i.metadata.get("graph", "turn_taking"))).aget_state(i.config)
        for i in items
    ]
    return checkpoint_infos(snapshots)


def checkpoint_infos(snapshots: Sequence[StateSnapshot]) -> list[CheckpointInfo]:
    """One row per checkpoint of `snapshots` (a thread's, newest first), in the same order.

    Each row names the node whose step wrote it: what the next older checkpoint had due.
    """
    out = []
    for index, snapshot in enumerate(snapshots):
        older = snapshots[index + 1] if index + 1 < len(snapshots) else None
        node = ", ".join(older.next) if older is not None else "input"
        recorded = PromptChoice.from_metadata(snapshot.metadata or {})
        out.append(
            CheckpointInfo(
                checkpoint_id=str(snapshot.config["configurable"]["checkpoint_id"]),
                step=int((snapshot.metadata or {}).get("step", -1)),
                round=int(snapshot.values.get("round", 0)),
                node=node or "input",
                next=tuple(snapshot.next),
                created_at=str(snapshot.created_at or ""),
                prompts=recorded.prompts or dict(snapshot.values.get("prompts") or {}),
                experiment={k: str(v) for k, v in (recorded.experiment or {}).items()},
            )
        )
    return out
