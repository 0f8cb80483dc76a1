"""Fork and time travel: a new thread that starts from any checkpoint of an old one.

The checkpoint is copied as it was (its channel values and versions) into a new thread, with
any `--set` values written over it. Writes that tasks made after that checkpoint are not
copied: running the new thread re-runs whatever was due next at that checkpoint, which is
what time travel means (a fork of a paused review pauses again when its reviewer re-runs).
The old thread is left untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, CheckpointTuple

from copydesk.agents.errors import CopydeskError
from copydesk.agents.state import DraftState
from copydesk.graphs.errors import InputError
from copydesk.graphs.prompting import PromptChoice
from copydesk.graphs.run_values import check_values, parse_value
from copydesk.graphs.transcript import Transcript, check_thread_id, make_thread_id

__all__ = [
    "SETTABLE",
    "Fork",
    "ForkError",
    "copy_checkpoint",
    "copy_transcript",
    "find_checkpoint",
    "make_fork",
    "parse_assignments",
]

_HINTS = get_type_hints(DraftState, include_extras=True)
SETTABLE: tuple[str, ...] = tuple(
    sorted(key for key, hint in _HINTS.items() if not hasattr(hint, "__metadata__"))
)
"""State keys `--set` may change: the plain values, not the lists and tallies kept by reducers."""


class ForkError(CopydeskError):
    """A fork that cannot be made: unknown checkpoint, or a value that cannot be set."""

    exit_code = 2


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """`["max_rounds=5", "topic=Trains"]` -> `{"max_rounds": 5, "topic": "Trains"}`.

    Text keys take the text as given; other values are read as JSON (a number, `true`, an
    object). Each value is checked with the rules of the matching `copydesk run` flag
    (`copydesk.graphs.run_values`), so a fork never starts with a value a run would refuse.

    Raises:
        ForkError: A pair without `=`, or a key that is not a settable state key.
        InputError: A value of the wrong type or out of range.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or key not in SETTABLE:
            raise ForkError(
                f"cannot set {pair!r}; use key=value with a key among {', '.join(SETTABLE)}"
            )
        values[key] = parse_value(key, raw)
    return check_values(values)


async def find_checkpoint(
    saver: BaseCheckpointSaver[str], thread_id: str, checkpoint_id: str, values: Mapping[str, Any]
) -> CheckpointTuple:
    """The checkpoint to fork, after checking that `values` may be set on it.

    Raises:
        ForkError: No such checkpoint in the thread, or a key that cannot be set.
    """
    bad = sorted(set(values) - set(SETTABLE))
    if bad:
        raise ForkError(f"cannot set {', '.join(bad)}; settable: {', '.join(SETTABLE)}")
    source = await saver.aget_tuple(
        {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": "",
                "checkpoint_id": checkpoint_id,
            }
        }
    )
    if source is None:
        raise ForkError(
            f"thread {thread_id!r} has no checkpoint {checkpoint_id!r}; "
            f"`copydesk history {thread_id}` lists them"
        )
    return source


def copy_transcript(source: Transcript, target: Transcript, checkpoint: CheckpointTuple) -> None:
    """Start the fork's transcript with the old lines of the messages the checkpoint holds."""
    messages = checkpoint.checkpoint.get("channel_values", {}).get("messages") or []
    kept = {str(m.id) for m in messages}
    target.append(line for line in source.lines() if str(line.get("id")) in kept)


async def copy_checkpoint(
    saver: BaseCheckpointSaver[str],
    source: CheckpointTuple,
    thread_id: str,
    values: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> RunnableConfig:
    """Save `source` as the first checkpoint of `thread_id`, with `values` written over it.

    Returns:
        The config of the new checkpoint.
    """
    checkpoint: Checkpoint = {
        **source.checkpoint,
        "channel_values": {**source.checkpoint.get("channel_values", {}), **values},
    }
    target: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return await saver.aput(
        target,
        checkpoint,
        {**source.metadata, **metadata},  # type: ignore[typeddict-item]
        dict(checkpoint["channel_versions"]),
    )


@dataclass(frozen=True)
class Fork:
    """A new thread made from an old thread's checkpoint, ready to run on."""

    thread_id: str
    graph: str
    """The topology that wrote the checkpoint: the fork runs on with it."""
    choice: PromptChoice
    """The prompt versions the old thread used, with the fork's overrides over them."""


async def make_fork(
    saver: BaseCheckpointSaver[str],
    home: Path,
    thread_id: str,
    checkpoint_id: str,
    *,
    values: Mapping[str, Any],
    new_thread_id: str | None,
    prompts: Mapping[str, str] | None,
) -> Fork:
    """Copy checkpoint `checkpoint_id` of `thread_id`, and its transcript, into a new thread.

    Args:
        saver: The open checkpointer holding both threads.
        home: The copydesk home (where transcripts are kept).
        thread_id: The thread to fork.
        checkpoint_id: The checkpoint to start from.
        values: State values to write over the checkpoint's (`SETTABLE` keys).
        new_thread_id: Id of the new thread (generated when None).
        prompts: Prompt overrides for the fork, agent -> `name@version`.

    Raises:
        ForkError: No such checkpoint, or a value that cannot be set.
        InputError: An invalid or existing new thread id.
    """
    source = await find_checkpoint(saver, thread_id, checkpoint_id, values)
    graph = str(source.metadata.get("graph", "turn_taking"))  # the topology at that step
    target = new_thread_id or make_thread_id()
    check_thread_id(target)
    choice = PromptChoice.from_metadata(source.metadata)  # the versions the thread used
    if prompts:
        choice = PromptChoice({**choice.prompts, **prompts}, choice.experiment)
    if await saver.aget_tuple({"configurable": {"thread_id": target}}) is not None:
        raise InputError(f"thread {target!r} exists already; pick another new thread id")
    origin = {"graph": graph, "source": "fork", "forked_from": f"{thread_id}@{checkpoint_id}"}
    await copy_checkpoint(saver, source, target, values, origin)
    await asyncio.to_thread(
        copy_transcript, Transcript.of(home, thread_id), Transcript.of(home, target), source
    )
    return Fork(target, graph, choice)
