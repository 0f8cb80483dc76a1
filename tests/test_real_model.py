"""The real-model tier: copydesk's CLI against llama.cpp's server with Gemma 3 270M.

`make test-real` sets the server up (once; `copydesk.agents.client.local_model`) and runs these;
`make test`
deselects them (marker `real`). One server serves the whole session on a free loopback
port, started as llama.cpp starts by default (a second request ends a running stream).
Every topology runs end to end through `copydesk run --json` in both structured modes, and
turn_taking once more with `--local`, where copydesk starts its own server.
Asserted: a draft the model wrote, typed verdicts, the transcript, usage (estimated: the
server reports none in streams), and no traceback on stderr.

With `REAL_MODEL_CASSETTES=1` (`make record-real`) each run of a topology is recorded on a
cassette, `tests/cassettes/real/<graph>-<mode>.json` (and `...-<mode>.resume.json` for the
resume that follows a run the model could not finish), its streams compacted
(`tests/_stream_compaction.py`); `tests/test_real_replay.py` replays them in the default
suite, where no llama.cpp server is built.

Each run prints one line (pytest -s shows it; `REAL_MODEL_RECORD=file` appends it there
as JSON): wall time, chat requests the server answered, the outcome and the capability
lessons copydesk said, the numbers behind benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client.local_paths import cache_dir
from copydesk.agents.client.local_server import serve
from copydesk.graphs.registry import TOPOLOGIES
from tests._real_model import (
    CANARY,
    CONTEXT,
    DOCUMENT,
    LOCAL_MODEL,
    TOPIC,
    cassettes_of,
    check_document,
    check_result,
    copydesk,
    run_args,
    tier_settings,
)
from tests._stream_compaction import compact_cassette

pytestmark = pytest.mark.real

VENV = Path(os.environ.get("COPYDESK_LLAMA_VENV") or cache_dir() / "llama-venv")


class Llama:
    """The session's server: its URL and its log (one line per request it answered)."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def chat_requests(self) -> int:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return text.count('"POST /v1/chat/completions HTTP/1.1"')


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Llama]:
    """One llama.cpp server for the session (set up by `make local-model`)."""
    if not (VENV / ".copydesk-ready").exists():
        message = f"no local model in {VENV}; run `make local-model` first"
        if os.environ.get("COPYDESK_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # As a user starts it: a request arriving while a stream runs ends that stream, so the
    # review panel's parallel editors teach copydesk to send one request at a time.
    with serve(VENV, context_tokens=CONTEXT, log=log, interrupt_requests=True) as url:
        yield Llama(url, log)


def _against(llama: Llama, mode: str) -> dict[str, str]:
    """The settings of a run (and its resume) against the tier's server in `mode`; the key is
    the canary, which no cassette may hold (llama.cpp's server ignores it)."""
    return {"OPENAI_BASE_URL": llama.url, "OPENAI_API_KEY": CANARY, **tier_settings(mode)}


def run_real(
    home: Path, llama: Llama, graph: str, mode: str, *extra: str, rounds: int = 2
) -> dict[str, Any]:
    requests, started = llama.chat_requests(), time.monotonic()
    recording = os.environ.get("REAL_MODEL_CASSETTES") == "1"
    run_cassette, resume_cassette = cassettes_of(graph, mode)
    if recording:
        resume_cassette.unlink(missing_ok=True)  # a stale one would be replayed after this run
    done = copydesk(
        home,
        "run",
        graph,
        *run_args(graph, rounds, extra),
        *(("--record", str(run_cassette)) if recording else ()),
        **_against(llama, mode),
    )
    if recording:
        compact_cassette(run_cassette)
    label = graph
    while True:
        record(
            graph=label,
            mode=mode,
            seconds=round(time.monotonic() - started),
            chat_requests=llama.chat_requests() - requests,
            exit=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
        )
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        if label != graph or not (done.returncode == 1 and "was not a valid" in done.stderr):
            break
        # A 270M base model sometimes gives no valid typed reply in three attempts (sampling
        # differs per server start; benchmarks/README.md). The run then says so in one line
        # and names `copydesk resume THREAD`: the tier follows that advice once, as a user
        # would, so the recovery path is tested against the real model too.
        [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("copydesk: error:")]
        thread = line.split("`copydesk resume ")[1].split("`")[0]
        done = copydesk(
            home,
            "resume",
            thread,
            "--json",
            *(("--record", str(resume_cassette)) if recording else ()),
            **_against(llama, mode),
        )
        if recording:
            compact_cassette(resume_cassette)
        label = f"{graph} (resumed)"
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def record(*, stdout: str, stderr: str, **run: Any) -> None:
    """Print (and append to `REAL_MODEL_RECORD`) what one run cost and taught."""
    try:
        result = json.loads(stdout)
        run |= {
            "outcome": f"{result['status']} ({result.get('rounds')} rounds)",
            "calls": result["usage"]["total"]["calls"],
        }
    except (ValueError, KeyError, TypeError):
        run |= {"outcome": f"failed: {(stderr.strip().splitlines() or ['?'])[-1][:200]}"}
    run["lessons"] = [line[:220] for line in stderr.splitlines() if "copydesk now" in line
                      or "does not accept" in line or "now requested" in line
                      or "has a context of" in line]  # fmt: skip
    print(json.dumps(run))
    if path := os.environ.get("REAL_MODEL_RECORD"):
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(run) + "\n")


@pytest.mark.parametrize("mode", ["json_schema", "function_calling"])
def test_turn_taking_in_both_structured_modes(llama: Llama, tmp_path: Path, mode: str) -> None:
    result = run_real(tmp_path, llama, "turn_taking", mode)
    check_result(tmp_path, result, "turn_taking")


@pytest.mark.parametrize("mode", ["json_schema", "function_calling"])
@pytest.mark.parametrize("graph", sorted(set(TOPOLOGIES) - {"turn_taking", "document"}))
def test_every_topology_against_the_real_model(
    llama: Llama, tmp_path: Path, graph: str, mode: str
) -> None:
    result = run_real(tmp_path, llama, graph, mode, rounds=1)
    check_result(tmp_path, result, graph)


def test_a_three_section_document_against_the_real_model(llama: Llama, tmp_path: Path) -> None:
    """The outline, three sections written and reviewed at once, the consistency pass."""
    result = run_real(tmp_path, llama, "document", "json_schema", *DOCUMENT, rounds=1)
    check_document(result)


def test_local_flag_starts_and_stops_its_own_server(tmp_path: Path) -> None:
    """`--local`: copydesk starts llama.cpp on a free port, writes, and stops it."""
    if not (VENV / ".copydesk-ready").exists():
        pytest.skip(f"no local model in {VENV}; run `make local-model` first")
    done = copydesk(
        tmp_path,
        "run",
        "turn_taking",
        "--topic",
        TOPIC,
        "--max-rounds",
        "1",
        "--local",
        "--json",
        COPYDESK_LLAMA_VENV=str(VENV),
        COPYDESK_MAX_OUTPUT_TOKENS="160",
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["model"] == LOCAL_MODEL and result["final_draft"].strip()
    assert "local model gemma-3-270m (llama.cpp) at http://127.0.0.1:" in done.stderr
    port = done.stderr.split("http://127.0.0.1:")[1].split("/")[0]
    probe = subprocess.run(
        [sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}))"],
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0  # the server is gone


def test_local_flag_writes_a_document(tmp_path: Path) -> None:
    """`copydesk run document --local`: a 3-section document on the server it starts."""
    if not (VENV / ".copydesk-ready").exists():
        pytest.skip(f"no local model in {VENV}; run `make local-model` first")
    done = copydesk(
        tmp_path, "run", "document", "--topic", TOPIC, *DOCUMENT, "--max-rounds", "1",
        "--local", "--json", COPYDESK_LLAMA_VENV=str(VENV), COPYDESK_MAX_OUTPUT_TOKENS="160",
        COPYDESK_REQUEST_TIMEOUT="600", COPYDESK_CALL_TIMEOUT="900",
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    check_document(json.loads(done.stdout))


EVAL_SUITE = """
name = "tiny"
max_rounds = 1
rubric = "rubric.toml"

[[case]]
topic = "Why every city street should have a tree"
words = 60

[[variant]]
name = "production"
graph = "turn_taking"
"""

EVAL_RUBRIC = """
[[criterion]]
name = "clarity"
question = "Can a reader follow it?"
anchors = { 1 = "Lost.", 2 = "Often unclear.", 3 = "Mostly clear.", 4 = "Clear.", 5 = "Crisp." }
"""


def test_eval_local_scores_a_run_of_the_real_model(tmp_path: Path) -> None:
    """`copydesk eval SUITE --local`: one case, one variant, one round, on the server copydesk
    starts; the deterministic scores, and the judge's score or the run counted unjudged (a
    270M judge often gives no valid score)."""
    if not (VENV / ".copydesk-ready").exists():
        pytest.skip(f"no local model in {VENV}; run `make local-model` first")
    (tmp_path / "rubric.toml").write_text(EVAL_RUBRIC, encoding="utf-8")
    (tmp_path / "suite.toml").write_text(EVAL_SUITE, encoding="utf-8")
    done = copydesk(
        tmp_path, "eval", str(tmp_path / "suite.toml"), "--local", "--json",
        COPYDESK_LLAMA_VENV=str(VENV), COPYDESK_MAX_OUTPUT_TOKENS="160",
        COPYDESK_REQUEST_TIMEOUT="600", COPYDESK_CALL_TIMEOUT="900",
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    [run] = report["runs"]
    assert run["status"] in {"approved", "out_of_rounds"} and run["rounds"] == 1
    assert len(run["final_draft"].split()) >= 5 and "offline" not in run["final_draft"].lower()
    metrics = report["variants"]["production"]
    assert metrics["runs"] == 1 and metrics["tokens"] > 0
    assert metrics["readability"]["mean"] is not None
    assert metrics["length_error"]["mean"] is not None  # against the case's 60 words
    assert set(metrics["regression_rate"]) == {"mean", "ci", "n"}
    if metrics["unjudged"] == 0:
        assert 1 <= metrics["judge"]["mean"] <= 5 and set(run["judge"]["scores"]) == {"clarity"}
    else:
        assert metrics["unjudged"] == 1 and metrics["judge"]["mean"] is None
    assert (tmp_path / "evals" / f"{report['id']}.json").exists()
