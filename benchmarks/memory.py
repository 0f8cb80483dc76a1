"""Memory benchmarks: tokens and recall over a long thread, vector scale, checkpoint growth.

    .venv/bin/python benchmarks/memory.py [--only tokens,vectors,checkpoints]
        [--rounds 500] [--sizes 10000,100000,1000000] [--checkpoint-rounds 50,100,200]

Each section prints a Markdown table; see docs/benchmarks/index.md for recorded results.
Needs the `bench` extra for the langchain_community comparison (`pip install -e .[bench]`).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _checkpoints, _recall, _vectors


def show(title: str, rows: list[dict[str, Any]]) -> None:
    """Print rows as a Markdown table."""
    print(f"\n### {title}\n")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "|".join("---:" if k != keys[0] else "---" for k in keys) + "|")
    for row in rows:
        cells = []
        for key in keys:
            value = row[key]
            if isinstance(value, float):
                cells.append(f"{value:,.3f}" if value < 10 else f"{value:,.0f}")
            else:
                cells.append(f"{value:,}" if isinstance(value, int) else str(value))
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> None:
    """Run the chosen sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="tokens,vectors,checkpoints")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--checkpoint-rounds", default="50,100,200")
    parser.add_argument("--langchain-hnsw-max", type=int, default=100_000)
    parser.add_argument("--impls", default=",".join(_vectors.IMPLS))
    args = parser.parse_args()
    sections = set(args.only.split(","))
    print(f"python {platform.python_version()} on {platform.machine()}")
    if "tokens" in sections:
        show(
            f"Tokens per writer call and facts recalled, {args.rounds}-round thread",
            _recall.table(args.rounds),
        )
    if "checkpoints" in sections:
        rounds = [int(r) for r in args.checkpoint_rounds.split(",")]
        show("Checkpoint bytes (SQLite)", _checkpoints.table(rounds))
    if "vectors" in sections:
        sizes = [int(s) for s in args.sizes.split(",")]
        impls = tuple(args.impls.split(","))
        rows = _vectors.table(sizes, 384, args.langchain_hnsw_max, impls)
        show("Vector scale (384 dims)", rows)


if __name__ == "__main__":
    main()
