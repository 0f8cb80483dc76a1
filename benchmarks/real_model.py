"""Every topology against a real model: llama.cpp's server with Gemma 3 270M on this CPU.

    make bench-real        # or: python benchmarks/real_model.py [--modes json_schema ...]

One server (set up by `make local-model`) serves every run. Per topology and structured
mode: the outcome, wall time, model calls (accounted calls), HTTP requests (every response
the client saw, refused and retried ones included), tokens (estimated: the server reports
none in streams) and the capability lessons copydesk logged. Prints a Markdown table for
`docs/benchmarks/index.md` and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.local_paths import LOCAL_MODEL, cache_dir
from copydesk.agents.client.local_server import serve
from copydesk.agents.config import ConfigManager
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.registry import TOPOLOGIES

TOPIC = "Why every city street should have a tree"


class Responses:
    """Counts every HTTP response a client's connection pool receives (a response hook)."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, response: httpx.Response) -> None:
        self.count += 1


class Lessons(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def measure(
    name: str, mode: str, url: str, home: Path, context: int, cap: int
) -> dict[str, Any]:
    flags = {
        "home": home,
        "openai_base_url": url,
        "model": LOCAL_MODEL,
        "structured_output": mode,
        "context_tokens": context,
        "checkpoint_url": "memory:",
        "max_rounds": 2,
        "max_output_tokens": cap,
    }
    settings = ConfigManager(flags=flags).settings
    lessons = Lessons()
    logging.getLogger("copydesk").addHandler(lessons)
    responses = Responses()
    started = time.perf_counter()
    try:
        async with (
            OpenAIClient.from_settings(settings) as client,
            ConversationManager(settings, client=client) as manager,
        ):
            client.http_client().event_hooks["response"].append(responses)
            inputs = {"sections_wanted": 3, "words": 300} if name == "document" else {}
            result = await manager.run(name, topic=TOPIC, inputs=inputs)
        outcome = f"{result.status} ({result.rounds} rounds)"
    except Exception as error:  # a benchmark reports a failure, it does not hide it
        outcome, result = f"failed: {type(error).__name__}: {error}", None
    finally:
        logging.getLogger("copydesk").removeHandler(lessons)
    usage = result.usage["total"] if result else {}
    return {
        "topology": name,
        "mode": mode,
        "outcome": outcome,
        "seconds": time.perf_counter() - started,
        "calls": usage.get("calls", 0),
        "requests": responses.count,
        "tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
        "lessons": len([line for line in lessons.lines if "does not accept" in line]),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["json_schema", "function_calling"])
    parser.add_argument("--topologies", nargs="+", default=sorted(TOPOLOGIES))
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--max-output", type=int, default=160, help="output cap per call")
    args = parser.parse_args()
    venv = Path(os.environ.get("COPYDESK_LLAMA_VENV") or cache_dir() / "llama-venv")
    rows = []
    with serve(venv, context_tokens=args.context) as url, tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            for name in args.topologies:
                home = Path(tmp) / f"{name}-{mode}"
                row = await measure(name, mode, url, home, args.context, args.max_output)
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f} at the end\n")  # fmt: skip
    print("| topology | mode | outcome | wall s | model calls | HTTP requests | tokens (est.) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['topology']} | {r['mode']} | {r['outcome']} | {r['seconds']:.0f} | "
              f"{r['calls']} | {r['requests']} | {r['tokens']} |")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
