"""Fork and time travel: a new thread that starts from any checkpoint of an old one.

The checkpoint is copied as it was (its channel values and versions) into a new thread, with
any `--set` values written over it. Writes that tasks made after that checkpoint are not
copied: running the new thread re-runs whatever was due next at that checkpoint, which is
what time travel means (a fork of a paused review pauses again when its reviewer re-runs).
The old thread is left untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, CheckpointTuple

from copydesk.agents.errors import CopydeskError
from copydesk.agents.state import DraftState
from copydesk.graphs.run_values import check_values, parse_value
from copydesk.graphs.transcript import Transcript

__all__ = [
    "SETTABLE",
    "ForkError",
    "copy_checkpoint",
    "copy_transcript",
    "find_checkpoint",
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
