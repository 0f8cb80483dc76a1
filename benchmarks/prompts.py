"""Cost of the prompt machinery: variant assignment, prompt choice per thread, lint, and the
A/B report over a checkpoint store.

    python benchmarks/prompts.py [--threads 200]

Runs `--threads` offline threads in the shipped `editor-rubric` experiment into a fresh
SQLite store, then times reading them back into the report. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.prompting import PromptChoice, find_experiment
from copydesk.graphs.reports.ab_report import build_report, outcomes
from copydesk.prompts.lint import lint
from copydesk.prompts.registry import PromptRegistry
from tests.fakes.writing import ScriptedChatModel, verdict_json


def _per_call(fn: object, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)  # type: ignore[operator]
    return (time.perf_counter() - started) / n * 1e6


async def _report_timing(threads: int) -> tuple[float, float, int]:
    experiment = find_experiment(PromptRegistry(), "editor-rubric")
    model = ScriptedChatModel(verdicts=[verdict_json("revise"), verdict_json("approve")])
    with tempfile.TemporaryDirectory() as home:
        settings = ConfigManager(flags={"home": Path(home)}).settings
        client = OpenAIClient(chat_model=model)
        async with ConversationManager(settings, client=client) as manager:
            for i in range(threads):
                await manager.run(
                    "turn_taking", topic=f"t{i}", thread_id=f"b{i}", experiment=experiment.name
                )
            started = time.perf_counter()
            found = await outcomes(manager.checkpointer, experiment.name)
            read = time.perf_counter() - started
            started = time.perf_counter()
            build_report(experiment, found)
            built = time.perf_counter() - started
    return read * 1000, built * 1000, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=200)
    args = parser.parse_args()
    registry = PromptRegistry()
    experiment = find_experiment(registry, "editor-rubric")
    assign = _per_call(lambda i: experiment.assign(f"thread-{i}"), 100_000)
    choose = _per_call(
        lambda i: PromptChoice.choose(registry, f"t{i}", experiment="editor-rubric"), 300
    )
    started = time.perf_counter()
    lint(registry)
    lint_ms = (time.perf_counter() - started) * 1000
    read_ms, build_ms, count = asyncio.run(_report_timing(args.threads))
    print(f"python {platform.python_version()} on {platform.machine()}")
    print("| what | time |")
    print("|---|---:|")
    print(f"| assign a variant (hash + weights) | {assign:.2f} us |")
    print(f"| choose a thread's prompts (load files, resolve, assign) | {choose:.0f} us |")
    print(f"| lint the shipped prompt folder | {lint_ms:.1f} ms |")
    print(f"| ab-report: read {count} threads from SQLite | {read_ms:.1f} ms |")
    print(f"| ab-report: compute the table | {build_ms:.2f} ms |")


if __name__ == "__main__":
    main()
