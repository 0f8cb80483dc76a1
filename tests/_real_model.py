"""What the real-model tier runs and asserts, shared by its live runs (`test_real_model.py`,
against llama.cpp + Gemma 3 270M) and their replays from committed cassettes
(`test_real_replay.py`, in the default suite): the topic, the settings, each topology's
command line, the cassette of each run, and the checks of a result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from copydesk.agents.client.local_paths import LOCAL_MODEL

__all__ = [
    "CANARY",
    "CASSETTES",
    "CONTEXT",
    "DOCUMENT",
    "LOCAL_MODEL",
    "TOPIC",
    "cassettes_of",
    "check_document",
    "check_result",
    "copydesk",
    "run_args",
    "tier_settings",
]

CONTEXT = 4096
TOPIC = "Why every city street should have a tree"
CASSETTES = Path(__file__).parent / "cassettes" / "real"
CANARY = "sk-canary-real-4b1d9e07c2"
"""The key the tier's runs send (the server ignores it): no cassette may hold it."""
DOCUMENT = ("--sections", "3", "--words", "300")
"""A 3-section document: the real-model runs of the `document` topology."""


def tier_settings(mode: str) -> dict[str, str]:
    """The settings of a run (and its resume) in structured mode `mode`, but the endpoint."""
    return {
        "COPYDESK_MODEL": LOCAL_MODEL,
        "COPYDESK_CONTEXT_TOKENS": str(CONTEXT),
        "COPYDESK_STRUCTURED_OUTPUT": mode,
        # A base model of 270M rambles to the cap: short replies keep the tier within CI.
        "COPYDESK_MAX_OUTPUT_TOKENS": "160",
        # One server answers parallel calls in turn: a call may wait minutes for its turn.
        "COPYDESK_REQUEST_TIMEOUT": "600",
        "COPYDESK_CALL_TIMEOUT": "900",
    }


def run_args(graph: str, rounds: int, extra: tuple[str, ...] = ()) -> list[str]:
    """`copydesk run GRAPH` 's arguments after the graph."""
    return ["--topic", TOPIC, "--max-rounds", str(rounds), "--json", *extra]


def cassettes_of(graph: str, mode: str) -> tuple[Path, Path]:
    """The cassettes of a run of `graph` in `mode`, and of the resume that may follow it."""
    return CASSETTES / f"{graph}-{mode}.json", CASSETTES / f"{graph}-{mode}.resume.json"


def copydesk(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-c", "from copydesk.graphs.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COPYDESK_"))},
            "COPYDESK_HOME": str(home),
            **env,
        },
    )


def check_result(home: Path, result: dict[str, Any], graph: str) -> None:
    """A draft the model wrote, a typed verdict, usage, and a transcript with the writer."""
    assert result["model"] == LOCAL_MODEL
    assert result["status"] in {"approved", "out_of_rounds", "completed"}
    draft = result["final_draft"]
    assert len(draft.split()) >= 5 and "offline" not in draft.lower()
    if graph != "pipeline":
        assert result["verdict"]["decision"] in {"approve", "revise"}
    usage = result["usage"]["total"]
    assert usage["calls"] >= 2 and usage["completion_tokens"] > 0
    exported = copydesk(home, "export", result["thread_id"], "--format", "json")
    assert exported.returncode == 0, exported.stderr
    transcript = json.loads(exported.stdout)["transcript"]
    assert len(transcript) >= 2
    assert any(line.get("agent") == "writer" for line in transcript)


def check_document(result: dict[str, Any]) -> None:
    """A 3-section document the model wrote, each section written and reviewed."""
    assert result["model"] == LOCAL_MODEL
    assert result["status"] in {"approved", "completed"}
    draft = result["final_draft"]
    assert draft.startswith("# ") and "offline" not in draft.lower()
    bodies = re.split(r"^## .+$", draft, flags=re.MULTILINE)[1:]
    assert len(bodies) == 3 and all(len(b.split()) >= 5 for b in bodies)
    usage = result["usage"]
    assert usage["section_writer"]["calls"] >= 3 and usage["section_editor"]["calls"] >= 3
