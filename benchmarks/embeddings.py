"""Embedding-path benchmark: embedding requests per chat call and the memory's CPU per chat
call, this tree against a baseline commit, in one run.

    .venv/bin/python benchmarks/embeddings.py [--baseline 11fc6fa] [--conversations 10]
        [--rounds 3] [--repeat 3]

Each row runs `ConversationManager.run` of N writer <-> editor conversations at once (R rounds,
the editor always asks for a revision) in a child process against the fake OpenAI server
(this process, 20 ms latency), with memory on and with `COPYDESK_MEMORY=false`; the
two-process rows run two such children at once on one `COPYDESK_HOME`. Each child first runs
one warm-up conversation (imports, pools, tokenizer tables), then measures its own CPU
(`time.process_time`, all threads) over the N conversations; `os.wait4` gives its whole CPU.

Reported: chat and embedding requests the server received (warm-up included), embedding
requests per chat call, CPU per chat call with memory on, memory CPU per chat call (CPU with
memory on minus with memory off, over the measured chat calls), recalls and stores that
failed (the child's log lines), and ratios baseline/this tree. The baseline is the tree at
`--baseline` (default: the commit before the embedding-path work), extracted with
`git archive` into a temporary directory and run with this virtualenv. Medians of
`--repeat` runs.

A last table runs two processes on one store directory, each putting, searching and getting
in a loop for `--store-seconds`: loops per second, searches that raised, CPU per loop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeOpenAIServer  # noqa: E402
from tests.fakes.writing import EditorialResponder  # noqa: E402

LATENCY = 0.02
CHILD = """
import asyncio, json, logging, sys, time
from copydesk.agents.config import ConfigManager
from copydesk.graphs.manager import ConversationManager

failed = 0
class Count(logging.Handler):
    def emit(self, record):
        global failed
        failed += "recall failed" in record.getMessage() or "could not store" in record.getMessage()
logging.getLogger("copydesk.memory").addHandler(Count())

async def main(tag, conversations, rounds):
    async with ConversationManager(ConfigManager().settings) as manager:
        await manager.run("turn_taking", topic="warm up", thread_id=f"{tag}-warm", max_rounds=1)
        start = time.process_time()
        await asyncio.gather(*(
            manager.run("turn_taking", topic=f"harbour town number {n}", thread_id=f"{tag}-{n}",
                        max_rounds=rounds)
            for n in range(conversations)))
        cpu = time.process_time() - start
    print(json.dumps({"failed": failed, "cpu": cpu}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


STORE_CHILD = """
import json, sys, time
from pathlib import Path
from copydesk.memory.embeddings import LexicalEmbedder
from copydesk.memory.vector import FaissStore

path, me, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
store = FaissStore(path, embedder=LexicalEmbedder(384), fields=["text"])
for n in range(500):  # a store that has seen some use
    store.put(("seed", me), f"s{n}", {"text": f"{me} seeded note {n} about the harbour"})
pairs, errors, start = 0, 0, time.process_time()
end = time.monotonic() + seconds
while time.monotonic() < end:
    pairs += 1
    store.put(("w", me), f"k{pairs}", {"text": f"{me} wrote harbour note number {pairs}"})
    try:
        store.search(("w",), query=f"harbour note number {pairs}", limit=8)
        store.get(("w", me), "k1")
    except Exception:
        errors += 1
print(json.dumps({"pairs": pairs, "errors": errors, "cpu": time.process_time() - start}))
store.close()
"""


def store_row(tree: Path, seconds: float) -> dict[str, float]:
    """Two processes putting, searching and getting on one store directory for `seconds`."""
    with tempfile.TemporaryDirectory() as home:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", STORE_CHILD, home, me, str(seconds)],
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
                stdout=subprocess.PIPE,
                text=True,
            )
            for me in ("a", "b")
        ]
        reports = [json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children]
    pairs = sum(r["pairs"] for r in reports)
    return {
        "pairs_per_s": pairs / seconds,
        "errors": sum(r["errors"] for r in reports),
        "cpu_ms_per_pair": 1000 * sum(r["cpu"] for r in reports) / pairs,
    }


def run_children(
    tree: Path, home: Path, base_url: str, memory: bool, processes: int, args: argparse.Namespace
) -> tuple[float, float, int]:
    """CPU seconds of the conversations of `processes` children run at once on one home
    (after a warm-up conversation), their whole CPU (`os.wait4`), and failed recalls."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "sk-bench",
        "COPYDESK_HOME": str(home),
        "COPYDESK_MEMORY": "true" if memory else "false",
        "COPYDESK_LOG_LEVEL": "ERROR",
    }
    env.pop("COPYDESK_OFFLINE", None)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, f"p{n}", str(args.conversations), str(args.rounds)],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for n in range(processes)
    ]
    cpu, total, failed = 0.0, 0.0, 0
    for child in children:
        _, status, usage = os.wait4(child.pid, 0)
        output = child.stdout.read() if child.stdout else ""
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"benchmark child failed in {tree} (exit {child.returncode})")
        report = json.loads(output.strip().splitlines()[-1])
        total += usage.ru_utime + usage.ru_stime
        cpu += report["cpu"]
        failed += report["failed"]
    return cpu, total, failed


def measure(tree: Path, server: FakeOpenAIServer, processes: int, args: argparse.Namespace) -> Any:
    """One row's numbers for `tree` (medians of `args.repeat` runs)."""
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        numbers: dict[str, float] = {}
        for memory in (True, False):
            server.reset()
            server.latency = LATENCY
            server.responder = EditorialResponder(decisions=("revise",))
            with tempfile.TemporaryDirectory() as home:
                cpu, total, failed = run_children(
                    tree, Path(home), server.base_url, memory, processes, args
                )
            chats = len(server.chat_requests())
            if memory:
                embeds = sum(1 for r in server.requests if r.path == "/v1/embeddings")
                numbers |= {"chats": chats, "embeds": embeds, "cpu_on": cpu, "failed": failed}
                numbers["process_cpu_on"] = total
            else:
                numbers["cpu_off"] = cpu
        runs.append(numbers)
    row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    row["embeds_per_chat"] = row["embeds"] / row["chats"]
    measured = args.conversations * args.rounds * 2 * processes  # a writer and an editor call
    row["memory_ms_per_chat"] = 1000 * (row["cpu_on"] - row["cpu_off"]) / measured
    row["ms_per_chat_on"] = 1000 * row["cpu_on"] / measured
    return row


def baseline_tree(ref: str, into: Path) -> Path:
    """The repository at `ref`, extracted (read-only use of the repository)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    """Run both trees and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="11fc6fa")
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store-seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-minute average)")
    print(
        f"\n{args.conversations} conversations x {args.rounds} rounds per process, fake server "
        f"latency {LATENCY * 1000:.0f} ms, median of {args.repeat}\n"
    )
    print(
        "| tree | processes | chat calls | embedding requests | per chat call | "
        "CPU ms per chat call (memory on) | memory CPU ms per chat call | failed recalls/stores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as old, FakeOpenAIServer() as server:
        trees = {f"baseline {args.baseline}": baseline_tree(args.baseline, Path(old)), "this": ROOT}
        results: dict[tuple[str, int], Any] = {}
        for processes in (1, 2):
            for name, tree in trees.items():
                row = results[(name, processes)] = measure(tree, server, processes, args)
                print(
                    f"| {name} | {processes} | {row['chats']:.0f} | {row['embeds']:.0f} | "
                    f"{row['embeds_per_chat']:.2f} | {row['ms_per_chat_on']:.1f} | "
                    f"{row['memory_ms_per_chat']:.1f} | "
                    f"{row['failed']:.0f} |",
                    flush=True,
                )
        print(
            "\n| processes | embedding requests per chat call, baseline/this | "
            "memory CPU per chat call, baseline/this |"
        )
        print("|---:|---:|---:|")
        base = f"baseline {args.baseline}"
        for processes in (1, 2):
            old_row, new_row = results[(base, processes)], results[("this", processes)]
            print(
                f"| {processes} | {_ratio(old_row['embeds_per_chat'], new_row['embeds_per_chat'])} "
                f"| {_ratio(old_row['memory_ms_per_chat'], new_row['memory_ms_per_chat'])} |"
            )
        print(
            "\nTwo processes on one store directory (500 items each, then put + search + get "
            f"in a loop for {args.store_seconds:.0f} s; lexical embedder, 384 dims)\n"
        )
        print("| tree | put+search+get per s (both) | failed searches | CPU ms per loop |")
        print("|---|---:|---:|---:|")
        for name, tree in trees.items():
            row = results[(name, 0)] = store_row(tree, args.store_seconds)
            print(
                f"| {name} | {row['pairs_per_s']:.0f} | {row['errors']:.0f} | "
                f"{row['cpu_ms_per_pair']:.2f} |",
                flush=True,
            )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    print(json.dumps({f"{k[0]}|{k[1]}": v for k, v in results.items()}))


def _ratio(old: float, new: float) -> str:
    return f"{old / new:.1f}x" if new > 0 else "n/a"


if __name__ == "__main__":
    main()
