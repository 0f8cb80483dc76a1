"""Rate-limit benchmark: copydesk's limiter against ChatOpenAI with and without langchain's
`InMemoryRateLimiter`, on the fake OpenAI server enforcing 100 requests/s and a token budget.

    .venv/bin/python benchmarks/ratelimit.py [--rps 100] [--seconds 4] [--sizes 10,100,500]

The fake server runs in its own process (so its CPU is not the client's); each row runs N
concurrent conversations, each making calls one after another, until about `seconds` of
budget has been asked for. Four-process rows run four client processes sharing one Redis
budget (`COPYDESK_TEST_REDIS_URL`, default redis://127.0.0.1:6379/0). Reported per row:
achieved successful requests/s as a share of the budget, 429s the server sent, calls that
failed for good, p50/p99 latency of a call (waiting in the limiter included) and client CPU
per successful request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agents.client import OpenAIClient
from agents.limiter import LimiterRegistry
from memory.tokens import token_counter

MESSAGES = [
    SystemMessage("You are a careful writer."),
    HumanMessage("Topic: why cities plant trees"),
]
REDIS_URL = os.environ.get("COPYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LATENCY = 0.02  # seconds the fake server takes per answer


def serve(conn: Any, rps: float, tpm: int) -> None:
    """The fake server's process: answers `stats` and `reset` over a pipe."""
    from tests.fakes import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        server.latency = LATENCY
        server.enforce(rps=rps, tpm=tpm)
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send((len(server.chat_requests()), server.rejected_429))
            elif command == "reset":
                server.reset()
                server.latency = LATENCY
                server.enforce(rps=rps, tpm=tpm)
                conn.send("ok")
            else:
                return


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
    base_url: str,
    conversations: int,
    calls: int,
    rps: float,
    tpm: int,
    redis: str | None,
    prefix: str,
    start_at: float,
) -> dict[str, Any]:
    """Run `conversations` loops sharing `calls` calls; return raw measurements."""
    call, close, client = make_caller(kind, base_url, rps, tpm, redis, prefix, conversations)
    per = [
        calls // conversations + (1 if i < calls % conversations else 0)
        for i in range(conversations)
    ]
    latencies: list[float] = []
    failed = 0

    async def conversation(n: int) -> None:
        nonlocal failed
        for _ in range(n):
            began = time.perf_counter()
            try:
                await call()
            except Exception:
                failed += 1
                continue
            latencies.append(time.perf_counter() - began)

    if kind == "copydesk":  # a long-running process builds these once
        token_counter("gpt-4o-mini").messages(list(MESSAGES))
        client.chat_model()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu, began = time.process_time(), time.time()
    await asyncio.gather(*(conversation(n) for n in per if n))
    ended = time.time()
    cpu = time.process_time() - cpu
    await close()
    return {"latencies": latencies, "failed": failed, "cpu": cpu, "began": began, "ended": ended}


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

    @property
    def rejected_share(self) -> float:
        return self.on_wire_429 / max(self.sent, 1)

    def line(self) -> str:
        return (
            f"| {self.client:<18} | {self.processes} | {self.conversations:>4} | "
            f"{self.share:6.1%} | {self.on_wire_429:>5} ({self.rejected_share:5.1%})"
            f" | {self.failed:>4} | {self.p50:6.2f} | {self.p99:6.2f} | {self.cpu_ms:5.2f} |"
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
    base_url: str,
) -> Row:
    conn.send("reset")
    conn.recv()
    time.sleep(1.1)  # let the server's one-second window empty
    calls = max(int(args.rps * args.seconds), conversations)
    prefix = f"copydesk-bench:{uuid.uuid4().hex}"
    if processes == 1:
        results = [
            asyncio.run(
                drive(
                    kind,
                    base_url,
                    conversations,
                    calls,
                    args.rps,
                    args.tpm,
                    None,
                    prefix,
                    time.time(),
                )
            )
        ]
    else:
        start_at = time.time() + 3.0  # every worker imports, then all start together
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    kind,
                    base_url,
                    str(share(conversations, processes, i)),
                    str(share(calls, processes, i)),
                    str(args.rps),
                    str(args.tpm),
                    REDIS_URL,
                    prefix,
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        results = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in workers]
    conn.send("stats")
    sent, rejected = conn.recv()
    latencies = [x for r in results for x in r["latencies"]]
    elapsed = max(r["ended"] for r in results) - min(r["began"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    return Row(
        client=kind if processes == 1 or kind != "copydesk" else "copydesk+redis",
        processes=processes,
        conversations=conversations,
        share=len(latencies) / elapsed / args.rps,
        on_wire_429=rejected,
        sent=sent,
        failed=sum(r["failed"] for r in results),
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        cpu_ms=1000 * cpu / max(len(latencies), 1),
    )


def worker(argv: list[str]) -> None:
    kind, base_url, conversations, calls, rps, tpm, redis, prefix, start_at = argv
    result = asyncio.run(
        drive(
            kind,
            base_url,
            int(conversations),
            int(calls),
            float(rps),
            int(tpm),
            redis,
            prefix,
            float(start_at),
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
    base_url = parent.recv()
    print(
        f"budget: {args.rps:.0f} requests/s, {args.tpm} tokens/min; server latency "
        f"{LATENCY * 1000:.0f} ms; ~{args.seconds:.0f} s of budget per row; load "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        "| client             | P |    N | budget | 429s on wire  | fail |  p50 s |  p99 s | "
        "CPU ms/req |"
    )
    print(
        "|--------------------|---|------|--------|---------------|------|--------|--------|"
        "-----------|"
    )
    try:
        for size in sizes:
            for kind in args.clients.split(","):
                print(run_row(kind, 1, size, args, parent, base_url).line(), flush=True)
            if args.processes > 1:
                row = run_row("copydesk", args.processes, size, args, parent, base_url)
                print(row.line(), flush=True)
    finally:
        parent.send("stop")
        server.join(timeout=5)


if __name__ == "__main__":
    main()
