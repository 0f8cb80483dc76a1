"""Citation support: how often a supported sentence is accepted and an unsupported one
caught, by word overlap alone and by the rule the document graph uses (numbers, wording and
meaning: `copydesk.memory.support`), on the lexical embedder and on MiniLM.

The set: one source of three passages; ten sentences it supports, most paraphrased, and ten
it does not, most sharing its words (a changed year, a claim on the same subject). Run:
`python benchmarks/citations.py`. The thresholds in `copydesk.memory.support` were chosen
on this set; docs/long-documents.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from copydesk.memory.embeddings import Embedder, LexicalEmbedder
from copydesk.memory.sources import SourceRecord, source_record, support
from copydesk.memory.support import judge, shelve, thresholds_for
from copydesk.memory.vector import FaissStore

__all__ = ["SOURCE", "SUPPORTED", "UNSUPPORTED", "measure"]

SOURCE: SourceRecord = source_record(
    1,
    "ports.md",
    "Harbour cranes lift containers from ships at night. Crane drivers work eight-hour "
    "shifts and rotate every week. The port added four new cranes in 2021.\n\n"
    "Tides decide when the largest ships can enter the harbour. At low water the channel is "
    "only nine metres deep, so deep-draught vessels wait offshore.\n\n"
    "Night trains in Europe carried more passengers in 2023 than in any year since 2000. "
    "Sleeper cars are expensive to run because each berth earns one fare per night.",
)
SUPPORTED = (
    "At night the harbour's cranes are lifting containers off the ships",
    "Containers are lifted off vessels by the port's cranes after dark",
    "Crane operators work shifts of eight hours and change rota weekly",
    "Four cranes were added to the port in 2021",
    "The biggest ships can only come into the harbour when the tide allows",
    "When the water is low the channel depth is just nine metres, so large vessels must wait "
    "out at sea",
    "More people rode Europe's night trains in 2023 than in any year since 2000",
    "Sleeper carriages cost a lot to operate since every berth brings in a single fare each night",
    "Deep-draught ships wait offshore at low water",
    "In 2023 European night trains had their busiest year since 2000",
)
UNSUPPORTED = (
    "Ships pay a fee to enter the harbour",
    "Crane drivers are paid more than pilots",
    "The port removed four cranes in 2019",
    "Night trains are cheaper to run than day trains",
    "The moon is made of green cheese",
    "Pilots always bring every vessel in safely",
    "Sleeper cars were banned in France in 2015",
    "The channel is dredged every summer to twenty metres",
    "Harbour cranes are powered by solar panels",
    "Most passengers prefer flying to sleeper trains",
)


async def measure(embedder: Embedder) -> dict[str, tuple[int, int]]:
    """(supported accepted, unsupported accepted) by word overlap alone (`overlap`) and by
    the document graph's rule through a store on `embedder` (`rule`)."""
    store = FaissStore(None, embedder=embedder, fields=["text"])
    try:
        await shelve(store, "bench", [SOURCE])
        verdicts = {
            label: [
                (await judge(s, SOURCE, store=store, thread_id="bench")).supported for s in texts
            ]
            for label, texts in (("supported", SUPPORTED), ("unsupported", UNSUPPORTED))
        }
    finally:
        store.close()
    overlap = thresholds_for(embedder.name).lexical
    return {
        "overlap": (
            sum(support(s, SOURCE["passages"]) >= overlap for s in SUPPORTED),
            sum(support(s, SOURCE["passages"]) >= overlap for s in UNSUPPORTED),
        ),
        "rule": (sum(verdicts["supported"]), sum(verdicts["unsupported"])),
    }


def main() -> None:
    """Print the table of docs/long-documents.md."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    from copydesk.memory.minilm import MiniLMEmbedder, minilm_available

    embedders: list[Embedder] = [LexicalEmbedder()]
    embedders += [MiniLMEmbedder()] if minilm_available() else []
    print(f"{'check':<34} {'supported accepted':>19} {'unsupported accepted':>21}")
    for n, embedder in enumerate(embedders):
        found = asyncio.run(measure(embedder))
        rows = [("word overlap alone", found["overlap"])] if n == 0 else []
        for name, (good, bad) in [*rows, (f"rule on {embedder.name}", found["rule"])]:
            print(f"{name:<34} {good:>16}/10 {bad:>18}/10")


if __name__ == "__main__":
    main()
