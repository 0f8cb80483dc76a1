"""The record of one `benchmarks/peers.py` run: its samples, the machine, the commit.

`Record` is written to the `--json-out` file after every sample, so a run cut short still
leaves its numbers; `load` reads one or more such files back for `--report`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks._peer_run import Sample

__all__ = ["Record", "load", "machine"]

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), ""
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model or platform.processor()}), Python "
        f"{platform.python_version()}, load average {load}"
    )


def _commit() -> str:
    """The commit measured (with `+dirty` when the tree has changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty=+dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        head = ""
    return head or "unknown"


class Record:
    """The samples of one benchmark run, written to `--json-out` after each one."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.machine = {"start": machine(), "commit": _commit()}
        self.samples: list[Sample] = []
        self.budget: list[Sample] = []

    def add(self, sample: Sample, *, budget: bool = False) -> None:
        """Keep a sample, show it on stderr, save the run so far."""
        (self.budget if budget else self.samples).append(sample)
        if sample.chat or sample.cpu:
            print(
                f"  {sample.client:<15} {sample.conversations:>3}xR{sample.rounds:<3} "
                f"cpu {sample.cpu:6.2f} s  wall {sample.wall:6.2f} s  "
                f"rss {sample.rss_mib:4.0f} MiB  chat {sample.chat:4d}  "
                f"emb {sample.embeddings:4d}  {sample.error or ''}",
                file=sys.stderr,
                flush=True,
            )
        self.save()

    def save(self) -> None:
        """Write every sample so far (a run cut short still leaves its numbers)."""
        if not self.args.json_out:
            return
        self.args.json_out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "machine": self.machine,
            "args": {k: str(v) for k, v in vars(self.args).items()},
            "samples": [asdict(s) for s in self.samples],
            "budget": [asdict(s) for s in self.budget],
        }
        self.args.json_out.write_text(json.dumps(record, indent=1))


def load(args: argparse.Namespace, paths: list[Path]) -> Record:
    """A run made of the samples saved in `paths` (their settings override the flags)."""
    run = Record.__new__(Record)
    run.args, run.samples, run.budget = args, [], []
    run.machine = {"start": "", "commit": ""}
    for path in paths:
        saved = json.loads(path.read_text())
        run.samples += [Sample(**s) for s in saved["samples"]]
        run.budget += [Sample(**s) for s in saved["budget"]]
        for key in ("latency", "concurrent_latency", "repeat"):
            setattr(args, key, type(getattr(args, key))(saved["args"][key]))
        rounds = sorted({s.rounds for s in run.samples if s.conversations == 1})
        args.rounds = rounds or args.rounds
        many = [s.conversations for s in run.samples if s.conversations > 1]
        args.conversations = max(many, default=args.conversations)
        args.budget_conversations = max(
            (s.conversations for s in run.budget), default=args.budget_conversations
        )
        run.machine = {
            k: " / ".join(filter(None, [run.machine.get(k, ""), v]))
            for k, v in saved["machine"].items()
        }
    args.json_out = None
    return run
