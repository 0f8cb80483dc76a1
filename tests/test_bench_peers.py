"""`benchmarks/peers.py` at its smallest: copydesk's CLI and the bare LangGraph client, one
conversation of one round each, against the benchmark's own fake server process.

The LangGraph client runs on this interpreter (copydesk depends on everything it imports), so
no peer virtualenv is built; AutoGen and CrewAI are left to `make bench-peers`.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks._peer_clients import CLIENTS, REPO, run_one
from benchmarks._peer_record import Record
from benchmarks._peer_report import budget_table, concurrent_table, single_table, targets
from benchmarks._peer_run import FakeServer, Sample
from benchmarks.peers import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(REPO, latency=0.0, limits=[("gpt-4o-mini", 1000.0)]) as running:
        yield running


@pytest.mark.parametrize(("client", "embeds"), [("copydesk", True), ("langgraph", False)])
def test_client_runs_one_round_and_is_measured(
    server: FakeServer, client: str, embeds: bool
) -> None:
    sample = run_one(server, CLIENTS[client], sys.executable, rounds=1, conversations=1)

    assert sample.error is None
    assert sample.chat == 2  # one draft, one verdict
    assert sample.chat_429 == 0
    assert (sample.embeddings > 0) is embeds  # copydesk's default path recalls and stores
    assert sample.cpu > 0
    assert sample.rss_mib > 10
    assert sample.wall > 0


def test_a_client_that_does_not_finish_is_reported_not_raised(server: FakeServer) -> None:
    sample = run_one(server, CLIENTS["langgraph"], "/bin/false", rounds=1, conversations=1)

    assert sample.error is not None
    assert sample.error.startswith("exit 1")
    assert sample.chat == 0


def _sample(client: str, conversations: int, rounds: int, cpu: float, **more: float) -> Sample:
    chat = int(more.pop("chat", 2 * rounds * conversations))
    return Sample(client, conversations, rounds, cpu=cpu, chat=chat, **more)


def test_tables_and_targets_from_samples() -> None:
    samples = [
        _sample("copydesk", 1, 10, 2.0),
        _sample("copydesk", 1, 30, 4.0),  # 2 s over 40 more calls: 50 ms a call
        _sample("langgraph", 1, 10, 1.0),
        _sample("langgraph", 1, 30, 2.0),  # 25 ms a call
        _sample("copydesk", 4, 3, 3.0, wall=5.0, rss_mib=200.0),
        _sample("langgraph", 4, 3, 4.0, wall=10.0, rss_mib=100.0),
        _sample("autogen", 4, 3, 2.0, wall=7.0),  # AutoGen's default: whole replies
        _sample("autogen-stream", 4, 3, 2.5, wall=9.0),
        Sample("crewai", 1, 10, error="venv: crewai: pip failed"),
    ]
    budget = [_sample("copydesk", 12, 3, 9.0, chat=80, chat_429=8, chat_span=14.2)]

    lines = targets(
        samples,
        conversations=4,
        concurrent_rounds=3,
        marginal_rounds=(10, 30),
        budget=budget,
        chat_rps=5.0,
    )

    assert lines[0].startswith("PASS 4xR3 wall")  # 5 s <= 1.1 x 7 s
    assert lines[1].startswith("PASS 4xR3 CPU")  # 3 s <= 4 s
    assert lines[2].startswith("FAIL marginal")  # 50 ms > 1.1 x 25 ms
    assert "50.0 ms vs 1.1 x 25.0 ms" in lines[2]
    assert lines[3].startswith("FAIL 4xR3 peak RSS")  # 200 > 120 MiB
    assert lines[4] == "PASS chat budget used >= 95 %: 100.0 % (median)"  # 71 / (5 x 14.2)
    assert lines[5] == "FAIL chat 429s <= 1 %: 10.0 % (worst run)"
    assert lines[6].startswith("SKIP embedding 429s")  # no embedding requests counted
    assert lines[7] == "peer to beat at 4xR3: autogen (7.0 s)"  # the faster AutoGen
    table = single_table(samples, ["copydesk", "langgraph", "crewai"], [10, 30])
    assert "| crewai | 10 | failed: venv: crewai: pip failed" in table
    assert "| copydesk | 50.0 (50.0) |" in table
    assert (
        "| langgraph | 24 (24) | 0 (0) | 10.00 (10.00) | 4.00 (4.00) | 167 (167) | 100 (100) |"
        in (concurrent_table(samples, ["copydesk", "langgraph"], 4, 3))
    )
    assert "| copydesk 12xR3 | 80 | 10.0 |" in budget_table(budget, 5.0)


def test_report_reprints_saved_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--report` measures nothing: it reads `--json-out` files and prints their targets."""
    args = Namespace(json_out=tmp_path / "run.json", latency=0.05, concurrent_latency=0.2, repeat=1)
    record = Record(args)
    for sample in (
        _sample("copydesk", 50, 3, 30.0, wall=20.0, rss_mib=150.0),
        _sample("langgraph", 50, 3, 20.0, wall=19.0, rss_mib=140.0),
    ):
        record.add(sample)
    record.add(_sample("copydesk", 12, 3, 9.0, chat=72, chat_span=14.0), budget=True)

    assert main(["--report", str(args.json_out)]) == 0

    printed = capsys.readouterr().out
    assert "FAIL 50xR3 CPU <= bare LangGraph: 30.0 s vs 20.0 s" in printed
    assert "PASS 50xR3 wall <= 1.1x fastest peer" in printed
    assert "PASS chat budget used >= 95 %: 101.4 % (median)" in printed
