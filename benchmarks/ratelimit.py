"""Rate-limit benchmark: copydesk's limiter against ChatOpenAI with and without langchain's
`InMemoryRateLimiter`, on the fake OpenAI server enforcing 100 requests/s and a token budget.

    .venv/bin/python benchmarks/ratelimit.py [--rps 100] [--seconds 4] [--sizes 10,100,500]

The fake server runs in its own process (so its CPU is not the client's); each row runs N
concurrent conversations, each making calls one after another, for `seconds` seconds (a call
started before the end finishes). Four-process rows run four client processes sharing one
Redis budget (`COPYDESK_TEST_REDIS_URL`, default redis://127.0.0.1:6379/0). Reported per row:
achieved requests/s as a share of the budget (calls answered successfully within the
`seconds` after the common start, ramp-up included, divided by `seconds`), 429s the server
sent, calls that failed for good, p50/p99 latency of a call (waiting in the limiter included)
and client CPU per successful request. Before the start every client process makes one call
to a second, unlimited fake server, as a long-running process would have done already (the
first call in a process builds the SDK's machinery: tens of milliseconds of CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.limiter import LimiterRegistry
from copydesk.memory.tokens import token_counter

MESSAGES = [
    SystemMessage("You are a careful writer."),
    HumanMessage("Topic: why cities plant trees"),
]
REDIS_URL = os.environ.get("COPYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LATENCY = 0.02  # seconds the fake server takes per answer


def serve(conn: Any, rps: float, tpm: int) -> None:
    """The fake server's process: answers `stats` and `reset` over a pipe."""
    from tests.fakes import FakeOpenAIServer

    with FakeOpenAIServer() as server, FakeOpenAIServer() as warm:
        server.latency = LATENCY
        server.enforce(rps=rps, tpm=tpm)
        conn.send((server.base_url, warm.base_url))
        while True:
            command = conn.recv()
            if command == "stats":
                arrivals = sorted(r.time for r in server.chat_requests())
                conn.send((len(arrivals), server.rejected_429, busiest_second(arrivals)))
            elif command == "reset":
                server.reset()
                server.latency = LATENCY
                server.enforce(rps=rps, tpm=tpm)
                conn.send("ok")
            else:
                return


def busiest_second(stamps: list[float]) -> int:
    """Most requests that arrived within any one second (`stamps` sorted)."""
    return max(
        (bisect.bisect_right(stamps, t + 1.0 - 1e-9) - i for i, t in enumerate(stamps)), default=0
    )


def make_caller(
    kind: str, base_url: str, rps: float, tpm: int, redis: str | None, prefix: str, connections: int
) -> tuple[Any, Any, Any]:
    """(async call function, closer, client) for one client kind."""
    if kind == "copydesk":
        client = OpenAIClient(
            model="gpt-4o-mini",
            api_key=SecretStr("sk-bench"),
            base_url=base_url,
            limiters=LimiterRegistry(
                rpm=rps * 60,
                tpm=tpm,
                redis_url=redis,
                prefix=prefix,
                safety=float(os.environ.get("BENCH_SAFETY", "0.97")),
            ),
            max_connections=connections,
        )
        return (lambda: client.complete(MESSAGES)), client.aclose, client
    limiter = None
    retries = 2  # ChatOpenAI's default: the SDK retries, bypassing any limiter
    if kind == "langchain-default":
        limiter = InMemoryRateLimiter(requests_per_second=rps)
    elif kind == "langchain-tuned":
        limiter = InMemoryRateLimiter(
            requests_per_second=rps * 0.97, check_every_n_seconds=0.005, max_bucket_size=1
        )
        retries = 6
    model = ChatOpenAI(
        model="gpt-4o-mini",
        api_key=SecretStr("sk-bench"),
        base_url=base_url,
        rate_limiter=limiter,
        max_retries=retries,
    )

    async def close() -> None:
        return None

    return (lambda: model.ainvoke(MESSAGES)), close, model


async def drive(
    kind: str,
    urls: tuple[str, str],
    conversations: int,
    seconds: float,
    rps: float,
    tpm: int,
    redis: str | None,
    prefix: str,
    ready: Callable[[], float],
) -> dict[str, Any]:
    """Warm up, then run `conversations` loops for `seconds` from the time `ready()` returns
    (called once this process is ready: the row starts when every process is)."""
    base_url, warm_url = urls
    # Same kind of client, Redis included (module imports, script loads), other server.
    warm_call, warm_close, _ = make_caller(kind, warm_url, rps, tpm, redis, f"{prefix}:warm", 1)
    await warm_call()  # a long-running process has made calls before
    await warm_close()
    call, close, client = make_caller(kind, base_url, rps, tpm, redis, prefix, conversations)
    if kind == "copydesk":  # a long-running process builds these once
        token_counter("gpt-4o-mini").messages(list(MESSAGES))
        client.chat_model()
    start_at = ready()
    deadline = start_at + seconds
    latencies: list[float] = []
    answered: list[float] = []  # wall-clock times successful calls returned
    failed = 0

    async def conversation() -> None:
        nonlocal failed
        while time.time() < deadline:
            began = time.perf_counter()
            try:
                await call()
            except Exception:
                failed += 1
                continue
            latencies.append(time.perf_counter() - began)
            answered.append(time.time())

    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu = time.process_time()
    await asyncio.gather(*(conversation() for _ in range(conversations)))
    cpu = time.process_time() - cpu
    missed = 0
    if kind == "copydesk":
        missed = sum(getattr(x, "missed", 0) for x in client.limiters._limiters.values())
    await close()
    in_time = sum(1 for t in answered if t <= deadline)
    return {
        "latencies": latencies,
        "in_time": in_time,
        "failed": failed,
        "cpu": cpu,
        "missed": missed,
    }


@dataclass
class Row:
    """One line of the results table."""

    client: str
    processes: int
    conversations: int
    share: float
    on_wire_429: int
    sent: int
    failed: int
    p50: float
    p99: float
    cpu_ms: float
    busiest: int
    missed: int

    @property
    def rejected_share(self) -> float:
        return self.on_wire_429 / max(self.sent, 1)

    def line(self) -> str:
        return (
            f"| {self.client:<18} | {self.processes} | {self.conversations:>4} | "
            f"{self.share:6.1%} | {self.on_wire_429:>5} ({self.rejected_share:5.1%})"
            f" | {self.failed:>4} | {self.p50:6.2f} | {self.p99:6.2f} | {self.cpu_ms:5.2f} |"
            f" {self.busiest:>4} | {self.missed:>4} |"
        )


def share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split as evenly as possible into `parts`."""
    return total // parts + (1 if index < total % parts else 0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def run_row(
    kind: str,
    processes: int,
    conversations: int,
    args: argparse.Namespace,
    conn: Any,
    urls: tuple[str, str],
) -> Row:
    conn.send("reset")
    conn.recv()
    time.sleep(1.1)  # let the server's one-second window empty
    prefix = f"copydesk-bench:{uuid.uuid4().hex}"
    # Every row runs in fresh client processes, each warmed up the same way.
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                kind,
                *urls,
                str(share(conversations, processes, i)),
                str(args.seconds),
                str(args.rps),
                str(args.tpm),
                REDIS_URL if processes > 1 else "",
                prefix,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    for w in workers:  # each has imported and warmed up
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.1  # then all start together
    for w in workers:
        assert w.stdin is not None
        w.stdin.write(f"{start_at}\n")
        w.stdin.flush()
    results = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in workers]
    conn.send("stats")
    sent, rejected, busiest = conn.recv()
    latencies = [x for r in results for x in r["latencies"]]
    cpu = sum(r["cpu"] for r in results)
    return Row(
        client=kind if processes == 1 or kind != "copydesk" else "copydesk+redis",
        processes=processes,
        conversations=conversations,
        share=sum(r["in_time"] for r in results) / args.seconds / args.rps,
        on_wire_429=rejected,
        sent=sent,
        failed=sum(r["failed"] for r in results),
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        cpu_ms=1000 * cpu / max(len(latencies), 1),
        busiest=busiest,
        missed=sum(r["missed"] for r in results),
    )


def worker(argv: list[str]) -> None:
    kind, base_url, warm_url, conversations, seconds, rps, tpm, redis, prefix = argv

    def ready() -> float:
        print("ready", flush=True)
        return float(sys.stdin.readline())

    result = asyncio.run(
        drive(
            kind,
            (base_url, warm_url),
            int(conversations),
            float(seconds),
            float(rps),
            int(tpm),
            redis or None,
            prefix,
            ready,
        )
    )
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=float, default=100)
    parser.add_argument("--tpm", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument(
        "--clients", default="copydesk,langchain-default,langchain-tuned,no-limiter"
    )
    parser.add_argument("--processes", type=int, default=4, help="0 to skip those rows")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(child, args.rps, args.tpm))
    server.start()
    urls = parent.recv()
    print(
        f"budget: {args.rps:.0f} requests/s, {args.tpm} tokens/min; server latency "
        f"{LATENCY * 1000:.0f} ms; {args.seconds:.0f} s per row; load "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        "| client             | P |    N | budget | 429s on wire  | fail |  p50 s |  p99 s | "
        "CPU ms/req | max/1s | late |"
    )
    print(
        "|--------------------|---|------|--------|---------------|------|--------|--------|"
        "-----------|--------|------|"
    )
    try:
        for size in sizes:
            for kind in args.clients.split(","):
                print(run_row(kind, 1, size, args, parent, urls).line(), flush=True)
            if args.processes > 1:
                row = run_row("copydesk", args.processes, size, args, parent, urls)
                print(row.line(), flush=True)
    finally:
        parent.send("stop")
        server.join(timeout=5)


if __name__ == "__main__":
    main()
