"""The CLI across processes: human review paused in one and answered in another, a thread
moving from turn_taking to debate, fork with --set, and the graph listing and diagrams."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests._cli import cli_env, copydesk, ok, ok_json

pytestmark = pytest.mark.slow


def test_review_paused_in_a_subgraph_is_answered_from_other_processes(
    tmp_path: Path, home: Path
) -> None:
    """pipeline --review waits (inside its review subgraph); feedback, then approval, finish it."""
    env = cli_env(home)
    paused = ok_json(
        copydesk(tmp_path, env, "run", "pipeline", "-t", "Sleeper trains", "--review",
                 "--thread-id", "r1", "--json")
    )  # fmt: skip
    assert paused["status"] == "waiting_for_review"
    assert paused["review"]["draft"] == paused["final_draft"]
    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert [(t["thread_id"], t["status"]) for t in listed] == [("r1", "waiting_for_review")]

    unanswered = copydesk(tmp_path, env, "resume", "r1")
    assert unanswered.returncode == 2
    assert "waiting for review; resume it with --approve or --feedback" in unanswered.stderr

    again = ok_json(
        copydesk(tmp_path, env, "resume", "r1", "--feedback", "Mention the cabins", "--json")
    )
    assert again["status"] == "waiting_for_review" and again["rounds"] > paused["rounds"]
    assert "mention the cabins" in again["final_draft"]

    done = ok_json(copydesk(tmp_path, env, "resume", "r1", "--approve", "--json"))
    assert (done["status"], done["ended_by"]) == ("approved", "human")
    assert done["final_draft"] == again["final_draft"]
    threads = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    assert [(t["thread_id"], t["status"]) for t in threads] == [("r1", "approved")]


def test_a_thread_moves_from_turn_taking_to_debate(tmp_path: Path, home: Path) -> None:
    """`run debate --thread-id T` continues T: same topic, draft, revisions and usage."""
    env = cli_env(home)
    first = ok_json(
        copydesk(tmp_path, env, "run", "turn_taking", "-t", "Tram lines", "--thread-id", "m1",
                 "--json")
    )  # fmt: skip
    moved = ok_json(copydesk(tmp_path, env, "run", "debate", "--thread-id", "m1", "--json"))
    assert moved["thread_id"] == "m1" and moved["graph"] == "debate"
    assert moved["usage"]["writer"]["calls"] == first["usage"]["writer"]["calls"]
    assert moved["usage"]["total"]["calls"] == first["usage"]["total"]["calls"] + 5
    assert {"advocate", "skeptic", "judge"} <= set(moved["usage"])
    assert moved["final_draft"] == first["final_draft"]  # the judge found nothing to change
    exported = ok(copydesk(tmp_path, env, "export", "m1")).stdout
    assert exported.startswith("# Tram lines")

    clash = copydesk(tmp_path, env, "run", "debate", "--thread-id", "m1", "-t", "Buses")
    assert clash.returncode == 2 and "is about 'Tram lines'" in clash.stderr


def test_fork_from_a_checkpoint_with_a_changed_value(tmp_path: Path, home: Path) -> None:
    """fork re-runs from the checkpoint before the first verdict, on a new thread."""
    env = cli_env(home)
    ok(copydesk(tmp_path, env, "run", "turn_taking", "-t", "Ferries", "--thread-id", "f1"))
    history = ok_json(copydesk(tmp_path, env, "history", "f1", "--json"))
    before_review = next(h for h in history if h["next"] == ["editor"] and h["round"] == 1)
    forked = ok_json(
        copydesk(tmp_path, env, "fork", "f1", "--checkpoint", before_review["checkpoint_id"],
                 "--set", "draft=For example, boats. In short, yes.", "--thread-id", "f2",
                 "--json")
    )  # fmt: skip
    assert forked["thread_id"] == "f2" and forked["status"] == "approved"
    assert forked["rounds"] == 1  # the edited draft was approved at once
    assert forked["final_draft"] == "For example, boats. In short, yes."
    original = ok_json(copydesk(tmp_path, env, "resume", "f1", "--json"))
    assert original["rounds"] == 2  # the old thread is untouched

    bad = copydesk(tmp_path, env, "fork", "f1", "--checkpoint", "nope")
    assert bad.returncode == 2 and "has no checkpoint 'nope'" in bad.stderr
    unsettable = copydesk(tmp_path, env, "fork", "f1", "--checkpoint", "x", "--set", "usage=1")
    assert unsettable.returncode == 2 and "cannot set 'usage=1'" in unsettable.stderr


def test_graphs_lists_every_topology_and_draws_one(tmp_path: Path, home: Path) -> None:
    """`copydesk graphs` shows seven topologies with node counts; --mermaid draws one."""
    env = cli_env(home)
    rows = ok_json(copydesk(tmp_path, env, "graphs", "--json"))
    assert {r["name"]: r["nodes"] for r in rows} == {
        "turn_taking": 3,
        "debate": 5,
        "round_robin": 4,
        "supervisor": 5,
        "review_panel": 6,
        "pipeline": 5,
        "document": 9,
    }
    diagram = ok(copydesk(tmp_path, env, "graphs", "review_panel", "--mermaid")).stdout
    assert "writer -.-> structure_editor" in diagram and re.search(r"merge -.-> __end__", diagram)
    missing = copydesk(tmp_path, env, "graphs", "sonnet_circle")
    assert missing.returncode == 2 and "unknown graph 'sonnet_circle'" in missing.stderr
    assert not home.exists()


def test_a_graph_file_with_only_build_runs_and_draws(tmp_path: Path, home: Path) -> None:
    """A `.py` path whose build() gives a compiled graph is listed, drawn and run (the check
    that refuses a broken build() lets a good one through)."""
    env = cli_env(home)
    mine = tmp_path / "mine.py"
    mine.write_text(
        '"""My loop."""\n\nfrom copydesk.graphs.topologies.turn_taking import build\n',
        encoding="utf-8",
    )
    rows = ok_json(copydesk(tmp_path, env, "graphs", str(mine), "--json"))
    assert rows == [{"name": "mine", "nodes": 3, "description": "My loop."}]
    assert "writer" in ok(copydesk(tmp_path, env, "graphs", str(mine), "--mermaid")).stdout
    done = ok_json(copydesk(tmp_path, env, "run", str(mine), "-t", "Canals", "--json"))
    assert done["status"] == "approved" and done["final_draft"]


def test_review_paused_in_a_parallel_branch_is_answered_from_other_processes(
    tmp_path: Path, home: Path
) -> None:
    """review_panel --review: the human is a parallel panelist; each answer is a new process."""
    env = cli_env(home)
    first = ok_json(
        copydesk(tmp_path, env, "run", "review_panel", "-t", "Ferry piers", "--review",
                 "--thread-id", "p1", "--json")
    )  # fmt: skip
    assert (first["status"], first["rounds"]) == ("waiting_for_review", 1)
    calls = first["usage"]["total"]["calls"]
    assert calls == 4  # the writer and three editors ran before the pause

    second = ok_json(copydesk(tmp_path, env, "resume", "p1", "--approve", "--json"))
    # The editors asked for changes: a second draft, and the human is asked again.
    assert (second["status"], second["rounds"]) == ("waiting_for_review", 2)
    assert second["usage"]["total"]["calls"] == calls + 4  # round 1's editors did not re-run

    done = ok_json(copydesk(tmp_path, env, "resume", "p1", "--approve", "--json"))
    assert (done["status"], done["ended_by"]) == ("approved", "all_agree")
    assert done["verdict"]["agent"] == "panel" and "human: approve" in done["verdict"]["summary"]
