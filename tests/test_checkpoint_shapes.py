"""What a checkpoint must look like to be read (anything else is damage, named), and which
errors of a saver count as damage at all."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from langgraph.checkpoint.base import CheckpointTuple

from copydesk.memory._checked import _is_damage, _shape_problem

_CONFIG: Any = {"configurable": {"thread_id": "t", "checkpoint_id": "1"}}
_WHOLE = {"id": "1", "channel_values": {}, "channel_versions": {}}


@pytest.mark.parametrize(
    ("checkpoint", "metadata", "problem"),
    [
        (_WHOLE, {}, None),
        (["not", "a", "mapping"], {}, "holds 'list' data, not a checkpoint"),
        ({**_WHOLE, "id": 7}, {}, "has no valid 'id'"),
        ({**_WHOLE, "channel_values": None}, {}, "has no valid 'channel_values'"),
        ({k: v for k, v in _WHOLE.items() if k != "channel_versions"}, {},
         "has no valid 'channel_versions'"),
        (_WHOLE, "source=loop", "has metadata that is not a mapping"),
    ],
)  # fmt: skip
def test_a_checkpoint_of_the_wrong_shape_is_named(
    checkpoint: Any, metadata: Any, problem: str | None
) -> None:
    assert _shape_problem(CheckpointTuple(_CONFIG, checkpoint, metadata)) == problem


def test_a_locked_or_full_database_is_not_damage_and_a_write_error_is_not_either() -> None:
    assert not _is_damage(sqlite3.OperationalError("database is locked"), reading=True)
    assert _is_damage(sqlite3.DatabaseError("file is not a database"), reading=False)
    assert _is_damage(ValueError("bad msgpack"), reading=True)
    assert not _is_damage(ValueError("bad value"), reading=False)
