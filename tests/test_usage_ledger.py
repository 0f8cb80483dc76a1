"""The usage ledger: each call appended to `usage.jsonl` as one JSON line and totalled per
agent and thread; a ledger file that cannot be written is skipped, never raised."""

from __future__ import annotations

import json
from pathlib import Path

from copydesk.agents.client import CallRecord, UsageLedger


def _call(thread: str, agent: str, tokens: int) -> CallRecord:
    return CallRecord(thread, agent, "gpt-4o-mini", tokens, tokens // 2, 0.5, 1, cost_usd=0.01)


def test_calls_are_appended_and_totalled(tmp_path: Path) -> None:
    ledger = UsageLedger(path=tmp_path / "home" / "usage.jsonl")

    ledger.record(_call("t1", "writer", 100))
    ledger.record(_call("t1", "editor", 40))
    ledger.record(_call("t2", "writer", 10))

    lines = [json.loads(line) for line in ledger.path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [(r["thread_id"], r["agent"], r["prompt_tokens"]) for r in lines] == [
        ("t1", "writer", 100),
        ("t1", "editor", 40),
        ("t2", "writer", 10),
    ]
    one = ledger.totals(thread_id="t1")
    assert (one["total"]["calls"], one["total"]["prompt_tokens"]) == (2, 140)
    assert one["writer"]["completion_tokens"] == 50
    assert ledger.totals()["total"]["cost_usd"] == 0.03


def test_a_ledger_file_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    """Accounting never stops a run: the call is still counted in the process."""
    (tmp_path / "notes.txt").write_text("a file where a folder would go\n", encoding="utf-8")
    ledger = UsageLedger(path=tmp_path / "notes.txt" / "usage.jsonl")

    ledger.record(_call("t1", "writer", 100))

    assert ledger.totals()["total"]["calls"] == 1
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8").startswith("a file")
