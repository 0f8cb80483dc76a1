"""What Gemma 3 270M can tell as a rubric judge: fixed drafts of known quality, judged again and
again on llama.cpp's server with the eval's rubric and judge prompt.

The drafts are written by hand to differ plainly: a good one (clear, with concrete examples),
a vague one (clear but without one example), one off the topic, and an echo of the prompt
such as the 270M writer produces. A judge that can tell anything scores the good draft above
the others on `evidence` and the off-topic and echo drafts low on `clarity`; judging each
draft several times gives the judge's own spread on identical drafts. Prints every score with
its quote (and whether the draft contains it), then a table of means and ranges.

    .venv/bin/python benchmarks/eval_local/judge_probe.py [--times 3] [--url URL]

With `--url`, it asks a server already running (an eval's, say) instead of starting one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from copydesk.agents.client import OpenAIClient
from copydesk.agents.client.local_paths import LOCAL_MODEL, cache_dir
from copydesk.agents.client.local_server import serve
from copydesk.agents.config import ConfigManager
from copydesk.agents.rubric import Judgement, RubricJudge
from copydesk.graphs.eval_suite import load_rubric
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR, PromptRegistry

HERE = Path(__file__).parent
TOPIC = "Why tide pools matter"
DRAFTS = {
    "good": (
        "Tide pools are small worlds the sea leaves behind twice a day. In a single pool on "
        "the Oregon coast you can find ochre sea stars, green anemones, hermit crabs and "
        "purple urchins within an arm's length. Because the water rises and falls, these "
        "animals survive heat, salt and waves, and scientists study them to learn how life "
        "copes with change. Pools also feed shorebirds: a black oystercatcher pries open "
        "mussels at low tide. When visitors turn rocks over and leave them upside down, the "
        "animals underneath dry out and die, so park rangers ask people to look and put "
        "every rock back. Protecting tide pools protects a living classroom."
    ),
    "vague": (
        "Tide pools are important for many reasons. They are interesting places where many "
        "things live. They help the environment in various ways and they matter to many "
        "people. It is good to protect them because they are valuable. Many experts agree "
        "that they are important. In conclusion, tide pools matter a great deal and we "
        "should all care about them more than we do today."
    ),
    "off_topic": (
        "My favourite sandwich is cheese and pickle on brown bread. The train was late "
        "again this morning, so I read the timetable twice. Spreadsheets can sort by "
        "colour, which few people know. The cat sleeps on the printer because it is warm."
    ),
    "echo": (
        "Topic: Why tide pools matter\n[user] Write the second draft (round 2 of 3). Topic: "
        "Why tide pools matter. Topic: Why tide pools matter. [user] Write the draft."
    ),
}


async def probe(url: str, context: int, cap: int, times: int) -> list[tuple[str, Judgement]]:
    rubric = load_rubric(HERE / "rubric.toml")
    with tempfile.TemporaryDirectory() as home:
        flags = {
            "home": home,
            "openai_base_url": url,
            "model": LOCAL_MODEL,
            "context_tokens": context,
            "max_output_tokens": cap,
            # as `--local` sets them: a call may wait minutes behind others on two cores
            "request_timeout": 600.0,
            "call_timeout": 900.0,
        }
        settings = ConfigManager(flags=flags).settings
        prompt = PromptRegistry(DEFAULT_PROMPTS_DIR).get("rubric_judge@production")
        results: list[tuple[str, Judgement]] = []
        async with OpenAIClient.from_settings(settings) as client:
            judge = RubricJudge(prompt, client, rubric)
            for n in range(times):
                for name, draft in DRAFTS.items():
                    started = time.perf_counter()
                    judgement = await judge.judge(TOPIC, draft)
                    results.append((name, judgement))
                    for criterion, score in judgement.scores.items():
                        quote = judgement.quotes[criterion][:70]
                        mark = "grounded" if judgement.grounded[criterion] else "NOT in draft"
                        print(f"{n + 1} {name:9} {criterion:8} {score}  [{mark}] {quote!r}")
                    print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return results


def table(results: list[tuple[str, Judgement]]) -> None:
    criteria = sorted({c for _, j in results for c in j.scores})
    print("\n| draft | " + " | ".join(f"{c}: scores (mean)" for c in criteria) + " | grounded |")
    print("|---|" + "---|" * len(criteria) + "---|")
    for name in DRAFTS:
        mine = [j for n, j in results if n == name]
        cells = []
        for criterion in criteria:
            scores = [j.scores[criterion] for j in mine if criterion in j.scores]
            mean = f"{sum(scores) / len(scores):.2f}" if scores else "-"
            cells.append(f"{', '.join(map(str, scores))} ({mean})")
        marks = [g for j in mine for g in j.grounded.values()]
        print(f"| {name} | " + " | ".join(cells) + f" | {sum(marks)} of {len(marks)} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=3, help="judgements of each draft")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--max-output", type=int, default=160, help="output cap per call")
    parser.add_argument("--url", help="a running llama.cpp server's base URL (.../v1)")
    args = parser.parse_args()
    venv = Path(os.environ.get("COPYDESK_LLAMA_VENV") or cache_dir() / "llama-venv")
    print(f"load average {os.getloadavg()[0]:.1f} at the start", file=sys.stderr)
    if args.url:
        results = await probe(args.url, args.context, args.max_output, args.times)
    else:
        with serve(venv, context_tokens=args.context) as url:
            results = await probe(url, args.context, args.max_output, args.times)
    table(results)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    asyncio.run(main())
