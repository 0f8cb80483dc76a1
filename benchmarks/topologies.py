"""Each topology against a fake OpenAI server with 50 ms latency: turns, model calls, wall
time and copydesk's own CPU per turn.

The fake server (tests.fakes, playing every role with `TopologyResponder`) runs in a child
process, so this process's CPU time is copydesk's: LangGraph, the SQLite checkpointer,
prompt rendering, the HTTP client, validation and routing, without the server's work.

    python benchmarks/topologies.py [--repeats 3] [--latency 0.05]

A turn is one agent's step (a node that ran, the moderator's choice and the panel's merge
included); model calls are HTTP requests the client made. Wall time is the median run.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.graphs.events import RunResult, Turn
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.registry import TOPOLOGIES

SERVE = """
import sys, time
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder
server = FakeOpenAIServer()
server.latency = float(sys.argv[1])
server.responder = TopologyResponder(approve_after=1)
with server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


async def measure(name: str, base_url: str, home: Path, repeats: int) -> dict[str, float]:
    """Run `name` `repeats` times on fresh threads; medians of wall time and CPU per turn."""
    settings = ConfigManager(flags={"home": home}).settings
    walls, cpus, turns, calls = [], [], 0, 0
    async with (
        OpenAIClient(base_url=base_url) as client,
        ConversationManager(settings, client=client) as manager,
    ):
        await manager.run(name, topic="warm-up", thread_id=f"warm-{name}")
        for i in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            events = [e async for e in manager.stream(name, topic=f"Canal boats ({name}, run {i})")]
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            result = events[-1]
            assert isinstance(result, RunResult) and result.status in ("approved", "completed")
            turns = sum(isinstance(e, Turn) for e in events)
            calls = result.usage["total"]["calls"]
            walls.append(wall)
            cpus.append(cpu / turns)
    return {
        "turns": turns,
        "calls": calls,
        "wall": statistics.median(walls),
        "cpu_per_turn_ms": statistics.median(cpus) * 1000,
    }


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(args.latency)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    try:
        rows = {}
        with tempfile.TemporaryDirectory() as home:
            for name in TOPOLOGIES:
                rows[name] = asyncio.run(measure(name, base_url, Path(home), args.repeats))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    print(f"python {platform.python_version()}, latency {args.latency * 1000:.0f} ms, "
          f"median of {args.repeats} runs, SQLite checkpointer")  # fmt: skip
    print("| topology     | turns | model calls | wall s | wall / call ms | CPU ms/turn |")
    print("|--------------|------:|------------:|-------:|---------------:|------------:|")
    for name, row in rows.items():
        print(
            f"| {name:<12} | {row['turns']:>5} | {row['calls']:>11} | {row['wall']:>6.2f} "
            f"| {row['wall'] / row['calls'] * 1000:>14.0f} | {row['cpu_per_turn_ms']:>11.2f} |"
        )


if __name__ == "__main__":
    main()
