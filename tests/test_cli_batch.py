"""`copydesk run-many`, `copydesk usage` and `--max-cost`, as real subprocesses against the
fake server with an enforced request budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._cli import cli_env, copydesk, ok, ok_json
from tests.fakes import FakeOpenAIServer, Fault
from tests.fakes.writing import EditorialResponder

TOPICS = ["why cities plant trees", "how bees dance", "", "what rivers carry", "why owls hoot"]


def test_run_many_runs_every_topic_within_the_budget(tmp_path: Path) -> None:
    (tmp_path / "topics.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("approve",))
        server.enforce(rps=20)
        server.faults.add(Fault.status(503), Fault.status(429, retry_after=0.05))
        env = cli_env(home, server, COPYDESK_RPM="1200")
        rows = ok_json(
            copydesk(
                tmp_path,
                env,
                "run-many",
                "topics.txt",
                "--graph",
                "turn_taking",
                "--concurrency",
                "3",
                "--json",
            )
        )
        rejected = server.rejected_429
    assert [r["topic"] for r in rows] == [t for t in TOPICS if t]
    assert {r["status"] for r in rows} == {"approved"}
    assert all(r["final_draft"].startswith("Draft ") for r in rows)
    assert len({r["thread_id"] for r in rows}) == 4
    assert all(r["usage"]["calls"] == 2 and r["usage"]["cost_usd"] > 0 for r in rows)
    # Paced at the server's budget: without the limiter these calls arrive at ~300/s and most
    # are refused; a loaded machine may bunch an arrival or two.
    assert rejected <= 2

    report = ok_json(copydesk(tmp_path, cli_env(home), "usage", "--json"))
    assert report["total"]["calls"] == 8
    assert set(report["threads"]) == {r["thread_id"] for r in rows}
    assert set(report["agents"]) == {"writer", "editor"}
    assert set(report["models"]) == {"gpt-4o-mini"}
    one = ok_json(copydesk(tmp_path, cli_env(home), "usage", rows[0]["thread_id"], "--json"))
    assert one["total"]["calls"] == 2
    assert one["total"]["cost_usd"] == pytest.approx(rows[0]["usage"]["cost_usd"], abs=1e-6)
    text = ok(copydesk(tmp_path, cli_env(home), "usage")).stdout
    assert "gpt-4o-mini" in text and "total" in text


def test_run_many_and_usage_reject_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    env = cli_env(home)
    for args, needle in [
        (("run-many", "missing.txt", "--graph", "turn_taking"), "cannot read missing.txt"),
        (("run-many", "empty.txt", "--graph", "turn_taking"), "has no topics"),
        (("usage", "nope"), "no model calls recorded for thread 'nope'"),
    ]:
        proc = copydesk(tmp_path, env, *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("copydesk: error: ") and needle in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not home.exists()


def test_max_cost_ends_a_run_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("revise",))
        env = cli_env(home, server)
        result = ok_json(
            copydesk(
                tmp_path,
                env,
                "run",
                "turn_taking",
                "--topic",
                "t",
                "--max-rounds",
                "9",
                "--max-cost",
                "0.0003",
                "--json",
            )
        )
        shown = ok(
            copydesk(
                tmp_path,
                env,
                "run",
                "turn_taking",
                "--topic",
                "t",
                "--max-rounds",
                "9",
                "--max-cost",
                "0.0000001",
            )
        ).stdout
    assert result["status"] == "over_budget" and 1 <= result["rounds"] < 9
    assert "status: over_budget" in shown and "spent its budget" in shown
    assert 0 < result["usage"]["total"]["cost_usd"] <= 0.0003  # a limit, not a check per round


def test_run_many_draws_no_bar_on_a_pipe(tmp_path: Path) -> None:
    """stderr not a terminal: the rows on stdout, no progress bar redrawn on stderr."""
    (tmp_path / "topics.txt").write_text("why cities plant trees\n", encoding="utf-8")
    with FakeOpenAIServer() as server:
        server.responder = EditorialResponder(decisions=("approve",))
        proc = ok(
            copydesk(
                tmp_path, cli_env(tmp_path / "home", server), "run-many", "topics.txt",
                "--graph", "turn_taking",
            )
        )  # fmt: skip
    assert "approved" in proc.stdout and "why cities plant trees" in proc.stdout
    assert "conversations" not in proc.stderr
