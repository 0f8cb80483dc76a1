"""The real-model tier: copydesk's CLI against llama.cpp's server with Gemma 3 270M.

`make test-real` sets the server up (once; `copydesk.agents.client.local_model`) and runs these;
`make test`
deselects them (marker `real`). One server serves the whole session on a free loopback
port, started as llama.cpp starts by default (a second request ends a running stream).
Every topology runs end to end through `copydesk run --json` in both structured modes, and
turn_taking once more with `--local`, where copydesk starts its own server.
Asserted: a draft the model wrote, typed verdicts, the transcript, usage (estimated: the
server reports none in streams), and no traceback on stderr.

Each run prints one line (pytest -s shows it; `REAL_MODEL_RECORD=file` appends it there
as JSON): wall time, chat requests the server answered, the outcome and the capability
lessons copydesk said, the numbers behind benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client.local_paths import LOCAL_MODEL, cache_dir
from copydesk.agents.client.local_server import serve
from copydesk.graphs.registry import TOPOLOGIES

pytestmark = pytest.mark.real

CONTEXT = 4096
VENV = Path(os.environ.get("COPYDESK_LLAMA_VENV") or cache_dir() / "llama-venv")
TOPIC = "Why every city street should have a tree"


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


def _against(llama: Llama, mode: str) -> dict[str, str]:
    """The settings of a run (and its resume) against the tier's server in `mode`."""
    return {
        "OPENAI_BASE_URL": llama.url,
        "COPYDESK_MODEL": LOCAL_MODEL,
        "COPYDESK_CONTEXT_TOKENS": str(CONTEXT),
        "COPYDESK_STRUCTURED_OUTPUT": mode,
        # A base model of 270M rambles to the cap: short replies keep the tier within CI.
        "COPYDESK_MAX_OUTPUT_TOKENS": "160",
        # One server answers parallel calls in turn: a call may wait minutes for its turn.
        "COPYDESK_REQUEST_TIMEOUT": "600",
        "COPYDESK_CALL_TIMEOUT": "900",
    }


def run_real(
    home: Path, llama: Llama, graph: str, mode: str, *extra: str, rounds: int = 2
) -> dict[str, Any]:
    requests, started = llama.chat_requests(), time.monotonic()
    done = copydesk(
        home,
        "run",
        graph,
        "--topic",
        TOPIC,
        "--max-rounds",
        str(rounds),
        "--json",
        *extra,
        **_against(llama, mode),
    )
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
        done = copydesk(home, "resume", thread, "--json", **_against(llama, mode))
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


def check_result(home: Path, result: dict[str, Any], graph: str) -> None:
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


DOCUMENT = ("--sections", "3", "--words", "300")
"""A 3-section document: the real-model runs of the `document` topology."""


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
