"""The real-model tier without its server: each committed cassette of a run against llama.cpp
+ Gemma 3 270M (`tests/cassettes/real/`, written by `make record-real`) replays through the
same `copydesk run --json` (and the `copydesk resume` that followed a run the model could not
finish), and the result passes the tier's own checks: a draft the model wrote, typed
verdicts, usage, the transcript. So a machine where the llama.cpp server is not built still
checks every topology's path through the real model's replies. The cassettes hold no key
and stay small."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from copydesk.graphs.registry import TOPOLOGIES
from tests._real_model import (
    CANARY,
    CASSETTES,
    DOCUMENT,
    cassettes_of,
    check_document,
    check_result,
    copydesk,
    run_args,
    tier_settings,
)

RUNS = sorted(p for p in CASSETTES.glob("*.json") if not p.name.endswith(".resume.json"))
MAX_BYTES = 400_000
"""A cassette's size at most: replies are capped at 160 tokens, a run makes tens of calls."""


def replay(home: Path, cassette: Path) -> dict[str, Any]:
    """Run the recorded command again from `cassette` (and its resume, if one was recorded)."""
    graph, mode = cassette.stem.rsplit("-", 1)
    rounds = 2 if graph == "turn_taking" else 1
    extra = DOCUMENT if graph == "document" else ()
    settings = tier_settings(mode)
    done = copydesk(
        home, "run", graph, *run_args(graph, rounds, extra), "--replay", str(cassette), **settings
    )
    _, resumed = cassettes_of(graph, mode)
    if resumed.exists():  # the model gave no valid typed reply: the run named its resume
        assert done.returncode == 1 and "was not a valid" in done.stderr, done.stderr[-3000:]
        [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("copydesk: error:")]
        thread = line.split("`copydesk resume ")[1].split("`")[0]
        done = copydesk(home, "resume", thread, "--json", "--replay", str(resumed), **settings)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("cassette", RUNS, ids=[p.stem for p in RUNS])
def test_a_recorded_real_model_run_replays_through_the_cli(cassette: Path, tmp_path: Path) -> None:
    graph = cassette.stem.rsplit("-", 1)[0]

    result = replay(tmp_path, cassette)

    if graph == "document":
        check_document(result)
    else:
        check_result(tmp_path, result, graph)


def test_every_topology_of_the_tier_has_a_recorded_run() -> None:
    assert {p.stem.rsplit("-", 1)[0] for p in RUNS} == set(TOPOLOGIES)
    assert all(p.stem.rsplit("-", 1)[1] in {"json_schema", "function_calling"} for p in RUNS)


def test_the_recorded_runs_hold_no_key_and_stay_small() -> None:
    cassettes = sorted(CASSETTES.glob("*.json"))
    assert cassettes
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert CANARY not in text, path
        assert "authorization" not in text.lower(), path
        assert len(text.encode()) <= MAX_BYTES, (path, len(text.encode()))
        assert json.loads(text)["copydesk"]["graph"] == path.stem.rsplit("-", 1)[0]
