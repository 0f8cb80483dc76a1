"""copydesk side by side with LangGraph, AutoGen and CrewAI on one writer <-> editor loop.

    .venv/bin/python benchmarks/peers.py [--quick] [--only copydesk,langgraph] [--repeat 3]
        [--rounds 3,10,30] [--conversations 50] [--no-budget]
    make bench-peers [PEERS_ARGS="--quick --only copydesk,copydesk-nomem"]

The clients: copydesk on its default settings (memory on) and with `COPYDESK_MEMORY=false`,
both through the `copydesk` CLI exactly as a user runs it (`run` for one conversation,
`run-many` for many); bare LangGraph, AutoGen AgentChat and CrewAI through the small programs
in `benchmarks/peer_clients/`, each in its own pinned virtualenv under `.bench/venvs` (built
on first use; a peer whose venv cannot be built is reported with the error). Every client is
a child process measured with `os.wait4` (user + system CPU, peak RSS) against the fake
OpenAI server (`benchmarks/_peer_server.py`, its own process), which always answers
"revise" so every client runs all its rounds, and counts the chat and embedding requests
each run makes. See `benchmarks/README.md` for the method and the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._peer_report import (  # noqa: E402 (the repository must be on sys.path first)
    budget_table,
    concurrent_table,
    single_table,
    targets,
)
from benchmarks._peer_run import FakeServer, Sample, run_client  # noqa: E402
from benchmarks._peer_venvs import VenvError, ensure_venv  # noqa: E402

__all__ = ["CLIENTS", "Client", "main", "run_one"]

CLIENT_DIR = REPO / "benchmarks" / "peer_clients"
TOPIC = "Why every city street should have a tree"
CHAT_MODEL, EMBEDDING_MODEL = "gpt-4o-mini", "text-embedding-3-small"
CHAT_RPS, EMBEDDING_RPS = 5.0, 30.0


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
    "autogen": Client("autogen", "autogen", "autogen_loop.py"),
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


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/peers.py", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(CLIENTS), help="clients, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row (median, min)")
    parser.add_argument("--rounds", type=_ints, default=[3, 10, 30], help="R of the 1-conv rows")
    parser.add_argument("--conversations", type=int, default=50, help="N of the N x R3 row")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency, 1-conv rows")
    parser.add_argument("--concurrent-latency", type=float, default=0.2, help="... N x R3 row")
    parser.add_argument("--budget-conversations", type=int, default=12, help="0: no budget row")
    parser.add_argument("--quick", action="store_true", help="--repeat 1 --rounds 3,10")
    parser.add_argument(
        "--json-out",
        type=Path,
        default=REPO / ".bench" / "peers-last.json",
        help="where every sample is written (default .bench/peers-last.json)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.rounds = 1, [3, 10]
    unknown = sorted(set(args.only.split(",")) - set(CLIENTS))
    if unknown:
        parser.error(f"unknown client(s) {','.join(unknown)}; choose from {','.join(CLIENTS)}")
    if args.repeat < 1 or not args.rounds or min(args.rounds) < 1:
        parser.error("--repeat and every --rounds value must be 1 or more")
    return args


def _compile(pythons: set[str]) -> None:
    """Byte-compile copydesk and the clients once, so no measured run pays for it (a user's
    second run does not); the peers' packages were compiled by pip."""
    folders = [str(REPO / name) for name in ("agents", "graphs", "memory", "prompts")]
    for python in sorted(pythons):
        subprocess.run(
            [python, "-m", "compileall", "-q", *folders, str(CLIENT_DIR)],
            check=False,
            stdout=subprocess.DEVNULL,
        )


def _machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), ""
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model or platform.processor()}), Python "
        f"{platform.python_version()}, load average {load}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every row, print the tables and the targets."""
    args = _parse(argv)
    clients = [CLIENTS[name] for name in args.only.split(",")]
    pythons: dict[str, str] = {}
    failed: list[Sample] = []
    for client in clients:
        try:
            pythons[client.name] = str(
                ensure_venv(REPO, client.venv) if client.venv else sys.executable
            )
        except VenvError as error:
            failed += [Sample(client.name, 1, r, error=f"venv: {error}") for r in args.rounds]
            failed.append(Sample(client.name, args.conversations, 3, error=f"venv: {error}"))
    runnable = [c for c in clients if c.name in pythons]
    _compile(set(pythons.values()))
    started = _machine()
    print(f"machine: {started}", file=sys.stderr)
    samples: list[Sample] = list(failed)
    budget: list[Sample] = []

    def measured(sample: Sample) -> Sample:
        print(
            f"  {sample.client:<15} {sample.conversations:>3}xR{sample.rounds:<3} "
            f"cpu {sample.cpu:6.2f} s  wall {sample.wall:6.2f} s  rss {sample.rss_mib:4.0f} MiB  "
            f"chat {sample.chat:4d}  emb {sample.embeddings:4d}  {sample.error or ''}",
            file=sys.stderr,
            flush=True,
        )
        return sample

    for repeat in range(args.repeat):
        print(f"repeat {repeat + 1}/{args.repeat}", file=sys.stderr)
        order = (
            runnable[repeat % max(len(runnable), 1) :] + runnable[: repeat % max(len(runnable), 1)]
        )
        with FakeServer(REPO, args.latency) as server:
            for client in order:
                for rounds in args.rounds:
                    samples.append(
                        measured(
                            run_one(
                                server, client, pythons[client.name], rounds=rounds, conversations=1
                            )
                        )
                    )
        if args.conversations > 0:
            with FakeServer(REPO, args.concurrent_latency) as server:
                for client in order:
                    samples.append(
                        measured(
                            run_one(
                                server,
                                client,
                                pythons[client.name],
                                rounds=3,
                                conversations=args.conversations,
                            )
                        )
                    )
        if args.budget_conversations > 0 and "copydesk" in pythons:
            limits = [(CHAT_MODEL, CHAT_RPS), (EMBEDDING_MODEL, EMBEDDING_RPS)]
            with FakeServer(REPO, args.latency, limits) as server:
                budget.append(
                    measured(
                        run_one(
                            server,
                            CLIENTS["copydesk"],
                            pythons["copydesk"],
                            rounds=3,
                            conversations=args.budget_conversations,
                        )
                    )
                )
    names = [c.name for c in clients]
    ended = _machine()
    print(f"\nmachine at start: {started}\nmachine at end:   {ended}\n")
    print(
        f"One conversation, R rounds, server latency {1000 * args.latency:.0f} ms; "
        f"median (min) of {args.repeat}:\n"
    )
    print(single_table(samples, names, args.rounds))
    if args.conversations > 0:
        print(
            f"\n{args.conversations} conversations at once, R3, server latency "
            f"{1000 * args.concurrent_latency:.0f} ms; median (min) of {args.repeat}:\n"
        )
        print(concurrent_table(samples, names, args.conversations, 3))
    if budget:
        print(
            f"\ncopydesk run-many, {args.budget_conversations} conversations at once, R3, cold, "
            f"server allowing {CHAT_RPS:g} chat and {EMBEDDING_RPS:g} embedding requests/s:\n"
        )
        print(budget_table(budget, CHAT_RPS))
    print("\nTargets (issue 9), copydesk on its default settings:")
    marginal_rounds = (args.rounds[-2], args.rounds[-1]) if len(args.rounds) > 1 else (0, 0)
    for line in targets(
        samples,
        conversations=args.conversations,
        concurrent_rounds=3,
        marginal_rounds=marginal_rounds,
        budget=budget,
        chat_rps=CHAT_RPS,
    ):
        print(f"  {line}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"start": started, "end": ended},
            "args": {k: str(v) for k, v in vars(args).items()},
            "samples": [asdict(s) for s in samples],
            "budget": [asdict(s) for s in budget],
        }
        args.json_out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
