"""Scale-out benchmark: conversations per minute on 1, 2 and 4 `copydesk worker` processes,
against the in-process `run-many`, with no rate budget and then with one that binds.

    .venv/bin/python benchmarks/scale.py [--concurrency 8] [--per-slot 6] [--latency 1.0]
                                         [--workers 1,2,4] [--budget-rps 12]

Needs PostgreSQL (checkpoints and jobs; `COPYDESK_TEST_POSTGRES_URL`, default
postgresql://postgres@127.0.0.1:5432/test), RabbitMQ (`COPYDESK_TEST_BROKER_URL`) and, for the
budget rows, Redis (`COPYDESK_TEST_REDIS_URL`). The fake OpenAI server runs in its own process
and answers every call after `latency` seconds; each conversation is a turn_taking thread the
editor approves at round 2: 4 calls, about 4 x latency of waiting. Every row runs
`per-slot x concurrency x processes` conversations (so each row takes about as long), each
worker with `--concurrency` slots; the baseline runs them in this process with `run-many`'s
`run_batch` at the same concurrency. Memory is off (no embedding calls), checkpoints are in
PostgreSQL for every row.

Reported per row: conversations per minute in the steady part of the run (completions between
the 10th and the 90th percentile of finishing times, so start-up and the last stragglers do
not count), chat calls per second, 429s, and with a budget the share of it used over the same
window (successful calls per second / budget).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from copydesk.agents.config import ConfigManager
from copydesk.agents.settings import Settings
from tests.fakes.workers import DEFAULT_BROKER_URL, WorkerProcess, delete_queues

POSTGRES = os.environ.get("COPYDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BROKER = os.environ.get("COPYDESK_TEST_BROKER_URL", DEFAULT_BROKER_URL)
REDIS = os.environ.get("COPYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def serve(conn: Any, latency: float) -> None:
    """The fake server's process: `stats` -> (arrivals, 429s); `("budget", rps)`; `stop`."""
    from tests.fakes import FakeOpenAIServer
    from tests.fakes.writing import ByRoundResponder

    with FakeOpenAIServer() as server:
        server.latency = latency
        server.responder = ByRoundResponder(approve_at=2)
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send(([r.time for r in server.chat_requests()], server.rejected_429))
            elif isinstance(command, tuple) and command[0] == "budget":
                server.reset()
                server.latency = latency
                server.responder = ByRoundResponder(approve_at=2)
                server.enforce(rps=command[1])
                conn.send("ok")
            else:
                return


def steady_rate(stamps: list[float]) -> float:
    """Events per second between the 10th and the 90th percentile of `stamps`."""
    stamps = sorted(stamps)
    low, high = int(len(stamps) * 0.1), int(len(stamps) * 0.9) - 1
    if high <= low or stamps[high] <= stamps[low]:
        return 0.0
    return (high - low) / (stamps[high] - stamps[low])


async def finishing_times(url: str, job_ids: list[str]) -> list[float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cursor = await db.execute(
            "SELECT extract(epoch FROM updated_at) FROM copydesk_queue_jobs "
            "WHERE job_id = ANY(%s) AND status = 'done'",
            (job_ids,),
        )
        return [float(r[0]) for r in await cursor.fetchall()]


def settings_for(env: dict[str, str]) -> Settings:
    names = {"COPYDESK_CHECKPOINT_URL": "checkpoint_url", "COPYDESK_BROKER_URL": "broker_url",
             "COPYDESK_QUEUE": "queue", "OPENAI_BASE_URL": "openai_base_url",
             "OPENAI_API_KEY": "openai_api_key", "COPYDESK_HOME": "home",
             "COPYDESK_MEMORY": "memory"}  # fmt: skip
    return ConfigManager(flags={names[k]: v for k, v in env.items() if k in names}).settings


class Stamps:
    """Stands in for run-many's progress bar: notes when each conversation finishes."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def add_task(self, description: str, total: int) -> int:
        return 0

    def advance(self, task: int) -> None:
        self.times.append(time.time())


def baseline(env: dict[str, str], count: int, concurrency: int) -> float:
    """Conversations/min (steady part) of run-many's `run_batch` in this process."""
    from copydesk.graphs.cli.batch import run_batch

    settings = settings_for(env)
    stamps = Stamps()
    rows = asyncio.run(
        run_batch(
            settings,
            "turn_taking",
            [f"Topic {n}" for n in range(count)],
            concurrency=concurrency,
            progress=stamps,  # type: ignore[arg-type]
        )
    )
    assert all(r["status"] == "approved" for r in rows), rows[:2]
    return steady_rate(stamps.times) * 60


def queued(env: dict[str, str], workers: int, count: int, concurrency: int, tmp: Path) -> float:
    """Conversations/min (steady part) on `workers` worker processes."""
    from copydesk.graphs.queue import submit_many, wait_for

    settings = settings_for(env)
    procs = [
        WorkerProcess(tmp, env, tmp / f"w{workers}-{n}.log", concurrency).start()
        for n in range(workers)
    ]
    try:

        async def run() -> list[str]:
            subs = await submit_many(settings, "turn_taking", [f"Topic {n}" for n in range(count)])
            jobs = await wait_for(settings, [s.job_id for s in subs], every=0.2)
            assert all(j.status == "done" for j in jobs), [j.error for j in jobs][:3]
            return [s.job_id for s in subs]

        ids = asyncio.run(run())
        times = asyncio.run(finishing_times(env["COPYDESK_CHECKPOINT_URL"], ids))
        return steady_rate(times) * 60
    finally:
        for proc in procs:
            if proc.process is not None:
                proc.process.terminate()
        for proc in procs:
            proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-slot", type=int, default=6)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--budget-rps", type=float, default=12.0)
    parser.add_argument("--budget-only", action="store_true", help="only the budget rows")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(child, args.latency))
    server.start()
    base_url = parent.recv()
    schema = f"bench_scale_{secrets.token_hex(4)}"
    queue = f"bench_scale_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES else "?"
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COPYDESK_", "OPENAI_"))}
        env |= {
            "COPYDESK_CHECKPOINT_URL": f"{POSTGRES}{sep}options=-csearch_path%3D{schema}",
            "COPYDESK_BROKER_URL": BROKER, "COPYDESK_QUEUE": queue,
            "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-bench",
            "COPYDESK_HOME": str(tmp / "home"), "COPYDESK_MEMORY": "false",
            "COPYDESK_LOG_LEVEL": "WARNING", "LANGSMITH_TRACING": "false",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }  # fmt: skip
        print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        print("| setup | conversations | conv/min | calls/s | 429s | budget used |")
        print("|---|---|---|---|---|---|")
        try:
            count = args.per_slot * args.concurrency
            if not args.budget_only:
                rate = baseline(env, count, args.concurrency)
                parent.send("stats")
                stamps, rejected = parent.recv()
                print(
                    f"| run-many in one process | {count} | {rate:.0f} | "
                    f"{steady_rate(stamps):.1f} | {rejected} | - |",
                    flush=True,
                )
            for budget in (None, args.budget_rps)[1 if args.budget_only else 0 :]:
                shared = dict(env)
                if budget is not None:
                    shared |= {"COPYDESK_REDIS_URL": REDIS, "COPYDESK_RPM": str(budget * 60)}
                for workers in counts:
                    parent.send(("budget", budget))
                    parent.recv()
                    count = args.per_slot * args.concurrency * workers
                    rate = queued(shared, workers, count, args.concurrency, tmp)
                    parent.send("stats")
                    stamps, rejected = parent.recv()
                    calls = steady_rate(stamps)
                    used = f"{calls / budget:.0%}" if budget else "-"
                    label = f"{workers} worker{'s' if workers > 1 else ''}" + (
                        f", budget {budget:g} rps" if budget else ""
                    )
                    print(f"| {label} | {count} | {rate:.0f} | {calls:.1f} | {rejected} | "
                          f"{used} |", flush=True)  # fmt: skip
        finally:
            print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            parent.send("stop")
            server.join(timeout=10)
            delete_queues(BROKER, queue)
            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
