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

__all__ = ["THREAD_ID_PATTERN", "Transcript", "make_thread_id"]

THREAD_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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
        if not THREAD_ID_PATTERN.match(thread_id):
            raise ValueError(f"invalid thread id {thread_id!r}")
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
