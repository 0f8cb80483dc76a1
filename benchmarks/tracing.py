"""The cost of watching: CPU of 50 conversations x 3 rounds with tracing off and on, in one run.

The fake OpenAI server (every editor verdict a revision, so each conversation runs its three
rounds: 6 model calls, recall and memory writes, checkpoints) and an OTLP sink (a collector
that takes every batch and throws it away) run in child processes, so this process's CPU time
is copydesk's. Three ways, alternated (off, on, on with the collector away) so that the load of
the machine falls on all alike:

- **off**: the default, `Telemetry()`;
- **on**: spans (batched, OTLP/HTTP protobuf) and metrics exported to the sink, as with
  `COPYDESK_TRACES=1`;
- **away**: tracing on, the collector's port closed: batches dropped after one probe.

    python benchmarks/tracing.py [--conversations 50] [--rounds 3] [--repeats 3]

Prints CPU seconds per batch of conversations (the median and the least of the repeats: on a
shared machine the least is the steadier) and on / off, then what the off path
adds to a model call (timed alone: a difference that small is lost in a batch's noise).
Target: on <= 1.10 x off; off: nothing measurable.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.spans import watch_call
from copydesk.agents.config import ConfigManager
from copydesk.agents.telemetry import Meters, Telemetry
from copydesk.agents.telemetry.dropping import Collectors, DroppingMetrics
from copydesk.agents.telemetry.providers import otlp_tracer_provider
from copydesk.graphs.manager import ConversationManager

SERVE = """
import sys
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder
server = FakeOpenAIServer()
server.responder = TopologyResponder(approve_after=10**9)  # the editor always revises
with server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""

SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
"""


def child(code: str, root: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def telemetry(collector: str | None) -> Telemetry:
    if collector is None:
        return Telemetry()
    collectors = Collectors()
    provider = otlp_tracer_provider(f"{collector}/v1/traces", collectors)
    reach = collectors.reach(f"{collector}/v1/metrics")
    exporter = DroppingMetrics(OTLPMetricExporter(f"{collector}/v1/metrics"), reach)
    meters = Meters(MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter)]))
    return Telemetry(provider, meters=meters)


async def batch(manager: ConversationManager, n: int, rounds: int, label: str) -> None:
    results = await asyncio.gather(
        *(
            manager.run("turn_taking", topic=f"Tide clocks ({label} {i})", max_rounds=rounds)
            for i in range(n)
        )
    )
    assert all(r.rounds == rounds for r in results), [r.status for r in results]


async def measure(
    base_url: str, home: Path, modes: dict[str, Telemetry], n: int, rounds: int, repeats: int
) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    managers = {}
    for mode, watching in modes.items():  # a home each: checkpoints and memories apart
        flags = {"home": home / mode, "openai_base_url": base_url}
        client = OpenAIClient(base_url=base_url, telemetry=watching)
        manager = ConversationManager(ConfigManager(flags=flags).settings, client=client)
        managers[mode] = await manager.__aenter__()
        await batch(managers[mode], 2, 1, f"warm-up {mode}")  # imports, pools, prompts
    for repeat in range(repeats):
        for mode, manager in managers.items():
            started = time.process_time()
            await batch(manager, n, rounds, f"{mode} {repeat}")
            modes[mode].flush(10.0)  # the export's CPU is the run's
            cpu[mode].append(time.process_time() - started)
    for manager in managers.values():
        await manager.__aexit__(None, None, None)
        await manager.client.aclose()
    for watching in modes.values():  # before the sink goes: the last metrics reach it
        shutdown = getattr(watching.meters and watching.meters.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
    return cpu


def off_path_seconds(runs: int = 100_000) -> float:
    """Seconds the off path adds to one model call: its span check and its call watch."""
    client = OpenAIClient()
    off = client.telemetry

    def one_call() -> None:
        with watch_call(client, agent="writer", config=None, params={}, messages=()) as seen:
            seen.failed()
        with off.span("turn"):
            off.annotate({})

    return timeit.timeit(one_call, number=runs) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    server, base_url = child(SERVE, root)
    sink, collector = child(SINK, root)
    try:
        modes = {
            "off": telemetry(None),
            "on": telemetry(collector),
            "away": telemetry(closed_port()),
        }
        with tempfile.TemporaryDirectory() as home:
            cpu = asyncio.run(
                measure(base_url, Path(home), modes, args.conversations, args.rounds, args.repeats)
            )
    finally:
        for process in (server, sink):
            process.kill()
            process.wait()
    medians = {mode: statistics.median(values) for mode, values in cpu.items()}
    calls = args.conversations * args.rounds * 2
    added = off_path_seconds() * calls
    print(f"{args.conversations} conversations x {args.rounds} rounds, {args.repeats} repeats; "
          f"Python {platform.python_version()}")  # fmt: skip
    least = {mode: min(values) for mode, values in cpu.items()}
    print("| tracing | CPU s per batch: median | least | all repeats | vs off: median | least |")
    print("|---|---|---|---|---|---|")
    for mode, median in medians.items():
        runs = ", ".join(f"{v:.2f}" for v in cpu[mode])
        print(
            f"| {mode} | {median:.2f} | {least[mode]:.2f} | {runs} | "
            f"{median / medians['off']:.3f} | {least[mode] / least['off']:.3f} |"
        )
    print(f"off path: {added * 1e6 / calls:.2f} us per model call, {added * 1000:.2f} ms per "
          f"batch = {added / medians['off'] * 100:.3f} % of the batch's CPU")  # fmt: skip


if __name__ == "__main__":
    main()
