"""Long documents against the fake server: prompt size, wall time and prompt tokens of a
12-section document, the seeded inconsistencies, and the citation check.

    python benchmarks/document.py [--sections 12] [--words 6000] [--latency 0.2]

1. **Bounded prompts, parallel sections.** A `--sections`-section document of about
   `--words` words (the scripted model of `tests/fakes/seeded.py`: a review per section,
   ten planted inconsistencies) with `COPYDESK_CONTEXT_TOKENS=4096` against the fake server at
   `--latency` seconds a call. Prints the largest prompt of any call against the bound; the
   wall time against the same graph with its sections run one after another (LangGraph's
   `max_concurrency=1`); and the prompt tokens of every call against a naive loop on bare
   LangGraph that sends the whole document so far with every call
   (`benchmarks/_naive_document.py`). Memory is off: the point is the prompts.
2. **Seeded inconsistencies.** Of that run: how many of the ten planted contradictions and
   terminology drifts the consistency pass found, how many of those the final text fixes,
   and whether every section no finding names is unchanged byte for byte.
3. **Citations.** A scripted writer cites a source not given and a sentence its source does
   not support: both caught, both fixed, the reference list only given sources.

Prompt tokens are counted the same way for both loops: the request's messages with
`gpt-4o-mini`'s tokenizer, as the client counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks._naive_document import naive_document
from copydesk.agents.client import OpenAIClient
from copydesk.agents.config import ConfigManager
from copydesk.agents.team import Agents
from copydesk.graphs.document_input import document_inputs
from copydesk.graphs.manager import ConversationManager
from copydesk.graphs.starts import new_thread
from copydesk.graphs.topologies import document
from copydesk.memory.tokens import TokenCounter
from tests.fakes import FakeOpenAIServer
from tests.fakes.documents import DocumentResponder, chat_texts
from tests.fakes.seeded import CRANES, PLANTS, TIDES, SeededResponder, citing_writer

__all__ = ["Seeded", "citations", "prompt_tokens", "sections_of", "seeded"]

CONTEXT = 4096
_COUNTER = TokenCounter("gpt-4o-mini")


def prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt tokens of one chat request, as the client counts a prompt."""
    messages = [
        (SystemMessage if m.get("role") == "system" else HumanMessage)(str(m.get("content") or ""))
        for m in body.get("messages") or []
    ]
    return _COUNTER.messages(messages)


def sections_of(text: str) -> dict[str, str]:
    """Heading -> body of each `## ` section of an assembled document."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


@dataclass
class Seeded:
    """What a seeded run left."""

    wall: float
    found: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)


async def seeded(
    base_url: str,
    home: Path,
    *,
    sections: int,
    words: int,
    parallel: bool = True,
    context: int = CONTEXT,
) -> Seeded:
    """Run the seeded document through the `document` graph, on a model of `context`
    tokens; what it found and fixed."""
    settings = ConfigManager(flags={"home": home, "memory": False}).settings
    async with OpenAIClient(base_url=base_url, context_tokens=context) as client:
        graph = document.build(
            agents=Agents.default(settings, client=client), checkpointer=InMemorySaver()
        )
        start = {**new_thread("seeded", "the port", 3), "sections_wanted": sections, "words": words}
        config: Any = {"configurable": {"thread_id": "seeded"}, "recursion_limit": 200}
        if not parallel:
            config["max_concurrency"] = 1
        began = time.perf_counter()
        state = await graph.ainvoke(start, config, durability="sync")
        wall = time.perf_counter() - began
    first, final = state["revisions"][0]["text"], state["revisions"][-1]["text"]
    quoted = {q["text"] for f in state.get("findings") or [] for q in f["quotes"]}
    headings = [b["heading"] for b in state["outline"]["sections"]]
    named = {headings[q["section"] - 1] for f in state.get("findings") or [] for q in f["quotes"]}
    before, after = sections_of(first), sections_of(final)
    return Seeded(
        wall=wall,
        found=[p.key for p in PLANTS if p.wrong[1] in quoted],
        fixed=[
            p.key
            for p in PLANTS
            if p.wrong[1] in quoted
            and p.wrong[1] not in final
            and p.fixed in sections_of(final)[headings[p.wrong[0] - 1]]
        ],
        changed=[h for h in before if before[h] != after.get(h)],
        named=sorted(named),
    )


SOURCES = {"cranes.md": CRANES, "tides.txt": TIDES}


async def citations(base_url: str, home: Path, folder: Path) -> dict[str, Any]:
    """Run a 2-section document whose writer cites badly at first; what was caught and kept."""
    for name, text in SOURCES.items():
        (folder / name).write_text(text, encoding="utf-8")
    paths = [folder / name for name in SOURCES]
    inputs = document_inputs("document", topic="ports", sections=2, sources=paths)
    settings = ConfigManager(flags={"home": home, "checkpoint_url": "memory:"}).settings
    async with (
        OpenAIClient(base_url=base_url) as client,
        ConversationManager(settings, client=client) as manager,
    ):
        result = await manager.run("document", topic="ports", inputs=inputs)
    return {"final": result.final_draft}


def caught(requests: list[tuple[str, str]]) -> list[str]:
    """Which of the two bad citations a revision request of the first section names."""
    revision = next((t for h, t in requests if h == "Harbours" and "Your current draft" in t), "")
    feedback = revision.split("changes:", 1)[-1]
    return [
        name
        for name, said in (
            ("not given", "[7] names no given source"),
            ("unsupported", "source [2] (tides.txt) does not support"),
        )
        if said in feedback
    ]


async def measure(args: argparse.Namespace, home: Path) -> None:
    """Run the three parts and print their tables."""
    runs: dict[str, Seeded] = {}
    tokens: dict[str, list[int]] = {}
    with FakeOpenAIServer() as server:  # warm-up: imports, the tokenizer, first connections
        server.responder = SeededResponder(words=50)
        await seeded(server.base_url, home / "warm-up", sections=2, words=100)
    for name in ("parallel", "one after another", "naive"):
        with FakeOpenAIServer() as server:
            server.latency = args.latency
            server.responder = SeededResponder(words=args.words // args.sections)
            began = time.perf_counter()
            if name == "naive":
                await naive_document(server.base_url, "the port", args.sections)
                runs[name] = Seeded(wall=time.perf_counter() - began)
            else:
                runs[name] = await seeded(
                    server.base_url,
                    home / name,
                    sections=args.sections,
                    words=args.words,
                    parallel=name == "parallel",
                )
            tokens[name] = [prompt_tokens(r.body or {}) for r in server.chat_requests()]
    ours, alone = runs["parallel"], runs["one after another"]
    print(
        f"{args.sections} sections, ~{args.words} words, {args.latency * 1000:.0f} ms a call, "
        f"COPYDESK_CONTEXT_TOKENS={CONTEXT}"
    )
    print(f"{'run':<26}{'calls':>7}{'largest prompt':>16}{'prompt tokens':>15}{'wall s':>9}")
    for name, run in runs.items():
        used = tokens[name]
        print(f"{name:<26}{len(used):>7}{max(used):>16}{sum(used):>15}{run.wall:>9.2f}")
    print(
        f"largest prompt {max(tokens['parallel'])} of a {CONTEXT}-token window "
        f"({'within' if max(tokens['parallel']) <= CONTEXT else 'OVER'} the bound)"
    )
    print(f"wall time, parallel / one after another: {ours.wall / alone.wall:.2f} (target <= 0.3)")
    print(
        f"prompt tokens, copydesk / naive loop: "
        f"{sum(tokens['parallel']) / sum(tokens['naive']):.2f}"
    )
    print(
        f"seeded: found {len(ours.found)} of {len(PLANTS)}, fixed {len(ours.fixed)} of "
        f"those; changed {len(ours.changed)} sections, all named by a finding: "
        f"{set(ours.changed) <= set(ours.named)}"
    )
    with FakeOpenAIServer() as server, tempfile.TemporaryDirectory() as folder:
        server.responder = DocumentResponder(reviews=0, script=citing_writer)
        done = await citations(server.base_url, home / "citations", Path(folder))
        names = caught(chat_texts(server))
    final = done["final"]
    print(
        f"citations: caught {', '.join(names)}; fixed: "
        f"{'[7]' not in final and 'cheese' not in final}; references: "
        f"{final.split('## References', 1)[-1].split()}"
    )


def main() -> None:
    """Parse the flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", type=int, default=12)
    parser.add_argument("--words", type=int, default=6000)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    print(f"{platform.python_version()} on {platform.machine()}")
    with tempfile.TemporaryDirectory() as home:
        asyncio.run(measure(args, Path(home)))


if __name__ == "__main__":
    main()
