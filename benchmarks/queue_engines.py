"""Which task-queue engine suits copydesk? Celery, Dramatiq and arq, each with one worker process.

    .venv/bin/python benchmarks/queue_engines.py [--tasks 200] [--seconds 1] [--concurrency 100]

A copydesk conversation spends nearly all its time awaiting the model, so each task here
awaits `seconds` and does nothing else (`benchmarks/_engine_tasks.py`). Per engine, one worker
process with `concurrency` slots: the wall time to finish `tasks` tasks (ideal: tasks /
concurrency x seconds), the worker's CPU seconds and peak RSS, then the crash case: a task is
started, its worker is killed with SIGKILL, a fresh worker is started, and we time how long
until the task starts again. Engines: Dramatiq (RabbitMQ, async actors on the worker's event
loop thread), Celery (RabbitMQ, late ack, thread pool, `asyncio.run` per task: Celery has no
async tasks), arq (Redis, async jobs on one loop; job_timeout 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def worker_command(engine: str, concurrency: int) -> list[str]:
    if engine == "dramatiq":
        return [
            str(BIN / "dramatiq"),
            "benchmarks._engine_tasks",
            "--processes",
            "1",
            "--threads",
            str(concurrency),
            "--queues",
            "bench_engines",
        ]
    if engine == "celery":
        return [
            str(BIN / "celery"),
            "-A",
            "benchmarks._engine_tasks:celery_app",
            "worker",
            "--pool",
            "threads",
            "-c",
            str(concurrency),
            "-Q",
            "bench_engines_celery",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ]
    return [str(BIN / "arq"), "benchmarks._engine_tasks.ArqSettings"]


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    out = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += tree(int(child))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


class Sender:
    """Enqueues `wait(seconds, tag)` with the engine's own client."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        from benchmarks import _engine_tasks as tasks

        self.tasks = tasks
        self.loop = asyncio.new_event_loop()
        if engine == "arq":
            from arq import create_pool

            self.pool = self.loop.run_until_complete(create_pool(tasks.ArqSettings.redis_settings))

    def send(self, seconds: float, tag: str) -> None:
        if self.engine == "dramatiq":
            self.tasks.dramatiq_wait.send(seconds, tag)
        elif self.engine == "celery":
            self.tasks.celery_wait.delay(seconds, tag)
        else:
            self.loop.run_until_complete(
                self.pool.enqueue_job("arq_wait", seconds, tag, _queue_name="bench:engines:arq")
            )


def wait_for(r: redis.Redis, key: str, count: int, limit: float) -> list[dict]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if r.llen(key) >= count:
            break
        time.sleep(0.02)
    return [json.loads(x) for x in r.lrange(key, 0, -1)]


def one(engine: str, tasks: int, seconds: float, concurrency: int) -> dict:
    from benchmarks._engine_tasks import DONE, REDIS_URL, STARTED

    r = redis.Redis.from_url(REDIS_URL)
    r.delete(DONE, STARTED, "bench:engines:arq")
    env = {
        **os.environ,
        "BENCH_ENGINE": engine,
        "BENCH_CONCURRENCY": str(concurrency),
        "PYTHONPATH": str(ROOT),
    }
    sender = Sender(engine)
    worker = subprocess.Popen(
        worker_command(engine, concurrency),
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sender.send(0, "warm")
        if len(wait_for(r, DONE, 1, 60)) < 1:
            raise RuntimeError(f"{engine}: the worker never finished the warm-up task")
        time.sleep(1)
        pids = tree(worker.pid)
        cpu0 = cpu_seconds(pids)
        r.delete(DONE, STARTED)
        start = time.time()
        for n in range(tasks):
            sender.send(seconds, f"t{n}")
        done = wait_for(r, DONE, tasks, tasks * seconds + 60)
        wall = max(d["end"] for d in done) - start
        cpu = cpu_seconds(pids) - cpu0
        rss = peak_rss_mb(pids)
        # The crash case.
        r.delete(DONE, STARTED)
        sender.send(6, "crash")
        wait_for(r, STARTED, 1, 30)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        killed = time.time()
        worker = subprocess.Popen(
            worker_command(engine, concurrency),
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        again = wait_for(r, STARTED, 2, 120)
        redelivered = again[1]["t"] - killed if len(again) > 1 else None
        return {
            "engine": engine,
            "tasks": len(done),
            "wall_s": round(wall, 2),
            "ideal_s": round(tasks / concurrency * seconds, 2),
            "worker_cpu_s": round(cpu, 2),
            "peak_rss_mb": round(rss, 1),
            "redelivered_after_s": None if redelivered is None else round(redelivered, 1),
        }
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--engines", default="dramatiq,celery,arq")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.tasks, args.seconds, args.concurrency)))
        return
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    for engine in args.engines.split(","):
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                engine,
                "--tasks",
                str(args.tasks),
                "--seconds",
                str(args.seconds),
                "--concurrency",
                str(args.concurrency),
            ],
            env={**os.environ, "BENCH_ENGINE": engine},
            capture_output=True,
            text=True,
            check=False,
        )
        print(result.stdout.strip() or f"{engine}: failed: {result.stderr[-2000:]}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
