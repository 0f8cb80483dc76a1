"""The contenders of `benchmarks/peers.py` and how one run of each is started and checked.

copydesk runs through its own CLI on this interpreter's virtualenv (`copydesk run` for one
conversation, `copydesk run-many` for several); the peers run their client script from
`benchmarks/peer_clients/` on their own virtualenv's Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._peer_run import FakeServer, Sample, run_client

__all__ = ["CLIENTS", "CLIENT_DIR", "Client", "run_one"]

REPO = Path(__file__).resolve().parents[1]
CLIENT_DIR = REPO / "benchmarks" / "peer_clients"
TOPIC = "Why every city street should have a tree"


@dataclass(frozen=True)
class Client:
    """One contender: copydesk's CLI (`venv` None) or a peer's script in its own venv."""

    name: str
    venv: str | None = None
    script: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, python: str, rounds: int, conversations: int, workdir: Path) -> list[str]:
        """The command that runs `conversations` conversations of `rounds` rounds."""
        if self.script is not None:
            return [
                python,
                str(CLIENT_DIR / self.script),
                *("--rounds", str(rounds), "--conversations", str(conversations)),
                *("--workdir", str(workdir)),
            ]
        copydesk = str(Path(python).with_name("copydesk"))
        if conversations == 1:
            return [copydesk, "run", "turn_taking", "--topic", TOPIC]  # + rounds, --json
        topics = workdir / "topics.txt"
        topics.write_text("".join(f"{TOPIC} (piece {n + 1})\n" for n in range(conversations)))
        return [
            *(copydesk, "run-many", str(topics), "--graph", "turn_taking"),
            *("--concurrency", str(conversations)),
        ]

    def check(self, rounds: int, conversations: int, stdout: str) -> str | None:
        """An error message unless the client reports every conversation done."""
        try:
            result = json.loads(stdout if self.script is None else stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return f"unreadable output: {stdout.strip()[-200:]!r}"
        if self.script is not None:
            done = result.get("completed") if isinstance(result, dict) else None
            return None if done == conversations else f"{done}/{conversations} completed"
        rows = result if isinstance(result, list) else [result]
        bad = [r.get("status") for r in rows if r.get("status") != "out_of_rounds"]
        if len(rows) != conversations or bad:
            return f"{len(rows)} conversations, unexpected statuses {bad[:3]}"
        return None


CLIENTS: dict[str, Client] = {
    "copydesk": Client("copydesk"),
    "copydesk-nomem": Client("copydesk-nomem", env={"COPYDESK_MEMORY": "false"}),
    "langgraph": Client("langgraph", "langgraph", "langgraph_loop.py"),
    "autogen": Client("autogen", "autogen", "autogen_loop.py"),  # its default: whole replies
    "autogen-stream": Client(
        "autogen-stream", "autogen", "autogen_loop.py", {"AUTOGEN_STREAM": "1"}
    ),
    "crewai": Client("crewai", "crewai", "crewai_loop.py"),
}


def run_one(
    server: FakeServer,
    client: Client,
    python: str,
    *,
    rounds: int,
    conversations: int,
    timeout: float = 1800.0,
) -> Sample:
    """Measure one run of `client` against `server`."""

    def argv(workdir: Path) -> list[str]:
        command = client.argv(python, rounds, conversations, workdir)
        if client.script is None:
            command += ["--max-rounds", str(rounds), "--json"]
        return command

    return run_client(
        server,
        Sample(client.name, conversations, rounds),
        argv,
        extra_env=client.env,
        check=lambda out: client.check(rounds, conversations, out),
        timeout=timeout,
    )
