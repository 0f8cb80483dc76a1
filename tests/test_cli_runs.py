"""End-to-end runs of the `copydesk` command: through the fake server, offline (with the
commands that inspect the finished thread), and out of rounds as a normal ending."""

from __future__ import annotations

from pathlib import Path

from tests._cli import cli_env, copydesk, ok, ok_json, transcript, turns
from tests.fakes import FakeOpenAIServer
from tests.fakes.writing import EditorialResponder

# --- a run through the fake server -----------------------------------------------------------


def test_run_json_through_fake_server(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise", "approve"))
    env = cli_env(home, fake_server)

    result = ok_json(
        copydesk(
            tmp_path, env, "run", "turn_taking", "--topic", "Tide pools",
            "--model", "fake-model-7", "--thread-id", "tide", "--json",
        )
    )  # fmt: skip

    assert result["thread_id"] == "tide"
    assert result["status"] == "approved"
    assert result["rounds"] == 2
    assert result["final_draft"] == "Draft 2 on Tide pools."
    assert result["verdict"]["decision"] == "approve"
    assert result["verdict"]["issues"] == []
    assert result["model"] == "fake-model-7"
    assert result["usage"]["total"]["calls"] == 4
    assert result["usage"]["writer"]["calls"] == result["usage"]["editor"]["calls"] == 2

    chats = fake_server.chat_requests()
    assert len(chats) == 4
    bodies = [c.body or {} for c in chats]
    assert ["response_format" in b for b in bodies] == [False, True, False, True]
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies[1::2])
    assert all("tools" not in b for b in bodies)
    assert {b["model"] for b in bodies} == {"fake-model-7"}
    assert {c.headers.get("authorization") for c in chats} == {"Bearer sk-test"}


# --- offline, and the commands that inspect a finished thread --------------------------------


def test_offline_run_then_inspect_the_thread(tmp_path: Path, home: Path) -> None:
    env = cli_env(home)  # no key and no base URL: the offline model writes

    plain = ok(copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Lighthouse keepers"))
    assert "lighthouse keepers" in plain.stdout.lower()
    assert "status: approved" in plain.stdout
    offline_lines = [line for line in plain.stderr.splitlines() if "offline" in line]
    assert len(offline_lines) == 1, plain.stderr

    result = ok_json(
        copydesk(tmp_path, env, "run", "turn_taking", "--topic", "Beekeeping", "--json",
                 "--thread-id", "bees")
    )  # fmt: skip
    assert result["status"] == "approved"
    assert result["thread_id"] == "bees"
    assert result["model"] == "copydesk-offline"
    assert "beekeeping" in result["final_draft"].lower()
    rounds = result["rounds"]
    assert rounds >= 1

    listed = ok_json(copydesk(tmp_path, env, "threads", "--json"))
    by_id = {row["thread_id"]: row for row in listed}
    assert len(by_id) == 2
    assert by_id["bees"]["topic"] == "Beekeeping"
    assert by_id["bees"]["status"] == "approved"
    assert by_id["bees"]["rounds"] == rounds
    assert by_id["bees"]["graph"] == "turn_taking"

    history = ok_json(copydesk(tmp_path, env, "history", "bees", "--json"))
    assert isinstance(history, list)
    assert len(history) >= 2 * rounds
    ids = [row["checkpoint_id"] for row in history]
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, str) and i for i in ids)
    assert history[0]["round"] == rounds  # newest first
    assert history[-1]["round"] == 0
    assert history[0]["next"] == []

    markdown = ok(copydesk(tmp_path, env, "export", "bees")).stdout
    assert markdown.startswith("# Beekeeping")
    assert "## Final draft" in markdown
    assert "### Round 1 (writer)" in markdown
    assert result["final_draft"] in markdown

    lines = transcript(home, "bees")
    expected = [(agent, r) for r in range(1, rounds + 1) for agent in ("writer", "editor")]
    assert turns(lines) == expected  # one line per message; the user's topic is not one
    assert [line["id"] for line in lines] == [f"bees:{r}:{a}" for a, r in expected]
    assert all(line["text"] and line["usage"]["calls"] == 1 for line in lines)
    assert lines[-2]["text"] == result["final_draft"]


# --- out of rounds is a normal ending --------------------------------------------------------


def test_out_of_rounds_is_a_normal_ending(
    tmp_path: Path, home: Path, fake_server: FakeOpenAIServer
) -> None:
    fake_server.responder = EditorialResponder(decisions=("revise",))
    env = cli_env(home, fake_server)

    proc = copydesk(
        tmp_path, env, "run", "turn_taking", "--topic", "Fog", "--max-rounds", "1", "--json"
    )

    result = ok_json(proc)
    assert result["status"] == "out_of_rounds"
    assert result["rounds"] == 1
    assert result["verdict"]["decision"] == "revise"
    assert result["verdict"]["issues"], "an unapproved draft has open issues"
    assert "GraphRecursionError" not in proc.stderr
    assert len(fake_server.chat_requests()) == 2
