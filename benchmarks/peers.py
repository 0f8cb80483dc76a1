"""copydesk side by side with LangGraph, AutoGen and CrewAI on one writer <-> editor loop.

    .venv/bin/python benchmarks/peers.py [--quick] [--only copydesk,langgraph] [--repeat 3]
        [--rounds 3,10,30] [--conversations 50] [--budget-conversations 12]
    make bench-peers [PEERS_ARGS="--quick --only copydesk,copydesk-nomem"]

The clients: copydesk on its default settings (memory on) and with `COPYDESK_MEMORY=false`,
both through the `copydesk` CLI exactly as a user runs it (`run` for one conversation,
`run-many` for many); bare LangGraph, AutoGen AgentChat and CrewAI through the small programs
in `benchmarks/peer_clients/`, each in its own pinned virtualenv under `.bench/venvs` (built
on first use; a peer whose venv cannot be built is reported with the error). Every client is
a child process measured with `os.wait4` (user + system CPU, peak RSS) against the fake
OpenAI server (`benchmarks/_peer_server.py`, its own process), which always answers
"revise" so every client runs all its rounds, and counts the chat and embedding requests
each run makes. See `docs/benchmarks/index.md` for the method and the results.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._peer_clients import CLIENT_DIR, CLIENTS, Client, run_one  # noqa: E402
from benchmarks._peer_record import Record, load, machine  # noqa: E402
from benchmarks._peer_report import (  # noqa: E402 (the repository must be on sys.path first)
    budget_table,
    concurrent_table,
    single_table,
    targets,
)
from benchmarks._peer_run import FakeServer, Sample  # noqa: E402
from benchmarks._peer_venvs import VenvError, ensure_venv  # noqa: E402

__all__ = ["main"]

CHAT_MODEL, EMBEDDING_MODEL = "gpt-4o-mini", "text-embedding-3-small"
CHAT_RPS, EMBEDDING_RPS = 5.0, 30.0


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
        "--rows", default="single,concurrent,budget", help="which rows to run, comma-separated"
    )
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        default=None,
        help="measure nothing: print the tables and targets of saved runs (--json-out files)",
    )
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
    rows = set(args.rows.split(","))
    if rows - {"single", "concurrent", "budget"}:
        parser.error("--rows takes single, concurrent and/or budget")
    args.conversations *= "concurrent" in rows
    args.budget_conversations *= "budget" in rows
    args.rounds = args.rounds if "single" in rows else []
    if args.repeat < 1 or min(args.rounds, default=1) < 1:
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


def _measure(run: Record, clients: list[Client], pythons: dict[str, str]) -> None:
    """Every row, `--repeat` times, the clients' order rotating between repeats."""
    args = run.args
    for repeat in range(args.repeat):
        print(f"repeat {repeat + 1}/{args.repeat}", file=sys.stderr)
        shift = repeat % max(len(clients), 1)
        order = clients[shift:] + clients[:shift]
        with FakeServer(REPO, args.latency) as server:
            for client in order:
                for rounds in args.rounds:  # empty without the single rows
                    python = pythons[client.name]
                    run.add(run_one(server, client, python, rounds=rounds, conversations=1))
        if args.conversations > 0:
            with FakeServer(REPO, args.concurrent_latency) as server:
                for client in order:
                    python, n = pythons[client.name], args.conversations
                    run.add(run_one(server, client, python, rounds=3, conversations=n))
        if args.budget_conversations > 0 and "copydesk" in pythons:
            limits = [(CHAT_MODEL, CHAT_RPS), (EMBEDDING_MODEL, EMBEDDING_RPS)]
            with FakeServer(REPO, args.latency, limits) as server:
                python, n = pythons["copydesk"], args.budget_conversations
                sample = run_one(server, CLIENTS["copydesk"], python, rounds=3, conversations=n)
                run.add(sample, budget=True)


def _report(run: Record, names: list[str]) -> None:
    """Print the tables and the targets."""
    args = run.args
    run.machine.setdefault("end", machine())
    run.save()
    print(f"\ncommit {run.machine['commit']}")
    print(f"machine at start: {run.machine['start']}\nmachine at end:   {run.machine['end']}\n")
    print(
        f"One conversation, R rounds, server latency {1000 * args.latency:.0f} ms; "
        f"median (min) of {args.repeat}:\n"
    )
    if args.rounds:
        print(single_table(run.samples, names, args.rounds))
    if args.conversations > 0:
        print(
            f"\n{args.conversations} conversations at once, R3, server latency "
            f"{1000 * args.concurrent_latency:.0f} ms; median (min) of {args.repeat}:\n"
        )
        print(concurrent_table(run.samples, names, args.conversations, 3))
    if run.budget:
        print(
            f"\ncopydesk run-many, {args.budget_conversations} conversations at once, R3, cold, "
            f"server allowing {CHAT_RPS:g} chat and {EMBEDDING_RPS:g} embedding requests/s:\n"
        )
        print(budget_table(run.budget, CHAT_RPS))
    print("\nTargets, copydesk on its default settings:")
    marginal_rounds = (args.rounds[-2], args.rounds[-1]) if len(args.rounds) > 1 else (0, 0)
    for line in targets(
        run.samples,
        conversations=args.conversations,
        concurrent_rounds=3,
        marginal_rounds=marginal_rounds,
        budget=run.budget,
        chat_rps=CHAT_RPS,
    ):
        print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Build what is missing, run every row, print the tables and the targets."""
    args = _parse(argv)
    if args.report:
        run = load(args, args.report)
        names = list(dict.fromkeys(s.client for s in run.samples + run.budget))
        _report(run, [n for n in CLIENTS if n in names])
        return 0
    clients = [CLIENTS[name] for name in args.only.split(",")]
    run = Record(args)
    pythons: dict[str, str] = {}
    for client in clients:
        try:
            venv = ensure_venv(REPO, client.venv) if client.venv else Path(sys.executable)
            pythons[client.name] = str(venv)
        except VenvError as error:
            for rounds in args.rounds:
                run.add(Sample(client.name, 1, rounds, error=f"venv: {error}"))
            run.add(Sample(client.name, args.conversations, 3, error=f"venv: {error}"))
    _compile(set(pythons.values()))
    print(f"commit {run.machine['commit']}, machine: {run.machine['start']}", file=sys.stderr)
    _measure(run, [c for c in clients if c.name in pythons], pythons)
    _report(run, [c.name for c in clients])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
