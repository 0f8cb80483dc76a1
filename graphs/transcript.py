"""An append-only JSONL transcript per thread: one line per message (agent, round, text, usage).

Lines are keyed by message id. Message ids are deterministic per (thread, round, agent), so a
step re-run after a crash does not add its message twice; `reconcile` first drops lines
whose step never reached a checkpoint, so the transcript always matches the thread's state.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from copydesk.graphs.errors import InputError

__all__ = [
    "MAX_THREAD_ID",
    "THREAD_ID_PATTERN",
    "Transcript",
    "check_thread_id",
    "make_thread_id",
    "shown_id",
    "thread_id_problem",
]

MAX_THREAD_ID = 128
"""Most characters in a thread id (it names a transcript file)."""
THREAD_ID_PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_THREAD_ID - 1}}}$")
_SHOWN = 40
"""Characters of a refused id the message repeats."""


def thread_id_problem(thread_id: str) -> str | None:
    """Why `thread_id` is refused and what to give instead, in one line; None if it is valid.

    The id is repeated only up to its first 40 characters, with its length when too long.
    """
    if THREAD_ID_PATTERN.match(thread_id):
        return None
    length = f" ({len(thread_id)} characters)" if len(thread_id) > MAX_THREAD_ID else ""
    return (
        f"invalid thread id {shown_id(thread_id)}{length}; use 1 to {MAX_THREAD_ID} letters, "
        "digits, '.', '_' or '-', starting with a letter or digit"
    )


def shown_id(thread_id: str) -> str:
    """`thread_id` quoted for a message: its first 40 characters and "..." when longer."""
    return repr(thread_id if len(thread_id) <= _SHOWN else thread_id[:_SHOWN] + "...")


def check_thread_id(thread_id: str) -> str:
    """`thread_id`, if it is valid.

    Raises:
        InputError: `thread_id_problem`'s line.
    """
    problem = thread_id_problem(thread_id)
    if problem is not None:
        raise InputError(problem)
    return thread_id


def make_thread_id() -> str:
    """A fresh, sortable thread id such as `20261124-101500-3fa2c1`."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Transcript:
    """The transcript file of one thread."""

    path: Path

    @classmethod
    def of(cls, home: Path, thread_id: str) -> Transcript:
        """The transcript of `thread_id` under `home`."""
        check_thread_id(thread_id)
        return cls(home / "transcripts" / f"{thread_id}.jsonl")

    def lines(self) -> list[dict[str, Any]]:
        """Every line, in order. A torn last line (crash mid-write) is ignored."""
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return out

    def ids(self) -> set[str]:
        """Message ids already written."""
        return {str(line.get("id")) for line in self.lines()}

    def append(self, entries: Iterable[dict[str, Any]], seen: set[str] | None = None) -> int:
        """Append entries whose id is not there yet; returns how many were written.

        Args:
            entries: Lines to write.
            seen: Ids already in the file, kept up to date by this call. A caller appending
                turn after turn passes the set from `ids()` once instead of the file being
                re-read and re-parsed on every append.
        """
        seen = self.ids() if seen is None else seen
        fresh = [e for e in entries if str(e.get("id")) not in seen]
        if not fresh:
            return 0
        seen.update(str(e.get("id")) for e in fresh)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for entry in fresh:
                handle.write(json.dumps({"time": time.time(), **entry}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return len(fresh)

    async def aappend(self, entries: Iterable[dict[str, Any]], seen: set[str]) -> int:
        """`append` in a worker thread: the write and its fsync stay off the event loop, and
        the call returns only once the lines are on disk (a turn acknowledged to the caller
        survives a SIGKILL right after)."""
        return await asyncio.to_thread(self.append, list(entries), seen)

    async def aids(self) -> set[str]:
        """`ids` in a worker thread (a long thread's transcript is read off the event loop)."""
        return await asyncio.to_thread(self.ids)

    def reconcile(self, kept_ids: set[str]) -> int:
        """Drop lines whose message is not in the checkpointed state; returns how many."""
        lines = self.lines()
        keep = [line for line in lines if str(line.get("id")) in kept_ids]
        if len(keep) == len(lines):
            return 0
        temporary = self.path.with_suffix(".jsonl.tmp")
        temporary.write_text("".join(json.dumps(line) + "\n" for line in keep), encoding="utf-8")
        temporary.replace(self.path)  # atomic: readers see the old or the new file, never half
        return len(lines) - len(keep)
