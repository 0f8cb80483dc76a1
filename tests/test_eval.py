"""`copydesk eval`: a suite offline with no key, its JSON and saved report, the eval page and
its plots, bad suites refused in one line with nothing written, and an eval recorded through
a server then replayed with none to the same numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._cli import in_process_cli
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import JudgingResponder

RUBRIC = """
[[criterion]]
name = "clarity"
question = "Can a reader follow it?"
anchors = { 1 = "Lost.", 2 = "Often unclear.", 3 = "Mostly clear.", 4 = "Clear.", 5 = "Crisp." }

[[criterion]]
name = "evidence"
question = "Are claims shown with an example?"
anchors = { 1 = "None.", 2 = "Vague.", 3 = "One.", 4 = "Several.", 5 = "Every claim." }
"""

SUITE = """
name = "editor prompts"
repeats = 2
rubric = "rubric.toml"

[[case]]
topic = "Why tide pools matter"
words = 120

[[case]]
topic = "How night trains came back"

[[variant]]
name = "v1"
graph = "turn_taking"
prompts = ["editor@v1"]

[[variant]]
name = "v2"
graph = "turn_taking"
prompts = ["editor@v2"]
"""


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from in_process_cli(home, monkeypatch)


def write_suite(folder: Path, suite: str = SUITE, rubric: str = RUBRIC) -> Path:
    (folder / "rubric.toml").write_text(rubric)
    path = folder / "suite.toml"
    path.write_text(suite)
    return path


def test_an_offline_eval_scores_and_compares_every_variant(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "tides.md").write_text("Tide pools fill twice a day as the sea retreats.")
    suite = SUITE.replace("words = 120", 'words = 120\nsources = ["tides.md"]')
    result = cli("eval", str(write_suite(tmp_path, suite)), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    assert set(report["variants"]) == {"v1", "v2"}
    for metrics in report["variants"].values():
        for name in ("issues_addressed", "regression_rate", "readability", "judge"):
            assert set(metrics[name]) == {"mean", "ci", "n"}
        assert metrics["runs"] == 4 and metrics["tokens"] > 0
        assert 1 <= metrics["judge"]["mean"] <= 5
    assert report["comparison"]["judge"]["winner"] in (None, "v1", "v2")
    assert report["comparison"]["readability"]["pairs"][0]["pairs"] == 4  # (case, repeat)
    runs = report["runs"]
    assert len(runs) == 8 and {r["status"] for r in runs} <= {"approved", "out_of_rounds"}
    assert all(set(r["judge"]["scores"]) == {"clarity", "evidence"} for r in runs)
    assert all(r["judge"]["grounded"]["clarity"] for r in runs)  # it quoted the draft
    assert report["judge_spread"]["identical_drafts"] >= 1  # repeats wrote the same text
    saved = home / "evals" / f"{report['id']}.json"
    assert json.loads(saved.read_text()) == report

    table = cli("eval", str(tmp_path / "suite.toml"))
    assert table.exit_code == 0, table.output
    assert "issues_addressed" in table.stdout and "winner" in table.stdout


def test_the_eval_page_draws_the_plots_on_the_server(
    cli: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from copydesk.graphs.web.app import create_app

    report = json.loads(cli("eval", str(write_suite(tmp_path)), "--json").stdout)
    with TestClient(create_app(), base_url="http://127.0.0.1") as browser:
        listing = browser.get("/desk/evals")
        page = browser.get(f"/desk/evals/{report['id']}")
        missing = browser.get("/desk/evals/eval-none")
        bad = browser.get("/desk/evals/..%2Fsecrets")

    assert listing.status_code == 200 and report["id"] in listing.text
    assert page.status_code == 200
    assert 'data-metric="readability-by-round"' in page.text
    assert 'data-metric="judge"' in page.text and 'data-metric="regression_rate"' in page.text
    assert "<script src=" in page.text and "cdn" not in page.text.lower()
    assert missing.status_code == 404 and bad.status_code == 404


@pytest.mark.parametrize(
    ("suite", "rubric", "said"),
    [
        ('[[variant]]\nname = "a"\ngraph = "turn_taking"\n', RUBRIC, "has no cases"),
        ('[[case]]\ntopic = "x"\n', RUBRIC, "has no variants"),
        (SUITE.replace("editor@v2", "editor@v9"), RUBRIC, "variant v2: prompt 'editor'"),
        (SUITE, RUBRIC.replace(', 2 = "Often unclear."', ""), "no anchors for 2"),
        (SUITE, "[[criterion]]\nname = 'x'\n", "no anchors for 1, 2, 3, 4, 5"),
        (SUITE, "not toml [", "is not TOML"),
        (SUITE.replace('"turn_taking"', '"nowhere"', 1), RUBRIC, "nowhere"),
        (SUITE.replace("repeats = 2", "repeats = 0"), RUBRIC, "repeats must be"),
        (SUITE.replace('name = "v2"', 'name = "v1"'), RUBRIC, "share a name"),
        (SUITE.replace("words = 120", 'sources = ["none.md"]'), RUBRIC, "is not a file"),
        (SUITE.replace("words = 120", 'colour = "red"'), RUBRIC, "unknown key(s) colour"),
        (SUITE.replace("words = 120", "words = 120\nsources = 'a.md'"), RUBRIC, "a list of files"),
        ('[[case]]\ntopic = "x"\n[[variant]]\ngraph = "debate"\n', RUBRIC, "has no name"),
        ('[[case]]\ntopic = "x"\n[[variant]]\nname = "a"\n', RUBRIC, "has no graph"),
        (SUITE.replace('["editor@v1"]', '"editor@v1"'), RUBRIC, "prompts must be a list"),
        ('[[case]]\nwords = 3\n[[variant]]\nname = "a"\ngraph = "x"\n', RUBRIC, "has no topic"),
        (SUITE.replace("words = 120", 'outline = "none.md"'), RUBRIC, "outline 'none.md'"),
        (SUITE, "title = 'no criteria'\n", "has no [[criterion]]"),
        (SUITE, "[[criterion]]\nquestion = 'q'\n", "criterion 1 has no name"),
    ],
    ids=[
        "no-cases", "no-variants", "unknown-prompt-version", "anchor-missing", "no-anchors",
        "rubric-not-toml", "unknown-graph", "repeats-zero", "same-name", "missing-source",
        "unknown-key", "sources-not-list", "variant-no-name", "variant-no-graph",
        "prompts-not-list", "case-no-topic", "missing-outline", "rubric-no-criteria",
        "criterion-no-name",
    ],
)  # fmt: skip
def test_a_bad_suite_is_one_line_and_nothing_written(
    cli: Any, home: Path, tmp_path: Path, suite: str, rubric: str, said: str
) -> None:
    result = cli("eval", str(write_suite(tmp_path, suite, rubric)))

    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("copydesk: error:"), result.stderr
    assert said in lines[0]
    assert not home.exists()


def test_a_missing_suite_and_a_cassette_of_another_topology(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    cassette = tmp_path / "c.json"
    cassette.write_text(
        '{"copydesk": {"format": "copydesk-cassette/1", "graph": "debate"}, "interactions": []}'
    )
    missing = cli("eval", str(tmp_path / "none.toml"))
    other = cli("eval", str(write_suite(tmp_path)), "--replay", str(cassette))
    judge = cli("eval", str(tmp_path / "suite.toml"), "--judge-prompt", "rubric_judge@v9")

    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    assert other.exit_code == 2 and "recorded for the topology debate" in other.stderr
    assert judge.exit_code == 2 and "--judge-prompt: prompt 'rubric_judge'" in judge.stderr
    assert not home.exists()


def without_ids(report: dict[str, Any]) -> dict[str, Any]:
    text = re.sub(r"eval-\d{8}-\d{6}-[0-9a-f]{6}", "ID", json.dumps(report))
    return json.loads(text)


def test_an_eval_recorded_through_a_server_replays_with_none(
    cli: Any,
    fake_server: FakeOpenAIServer,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_server.responder = JudgingResponder(approve_after=1)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    suite, cassette = write_suite(tmp_path), tmp_path / "eval.json"

    live = cli("eval", str(suite), "--json", "--record", str(cassette), "--judge-model", "judge-m")
    assert live.exit_code == 0, live.output
    fake_server.stop()
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = cli(
        "eval", str(suite), "--json", "--replay", str(cassette), "--judge-model", "judge-m"
    )

    assert replayed.exit_code == 0, replayed.output
    recorded = json.loads(live.stdout)
    assert without_ids(json.loads(replayed.stdout)) == without_ids(recorded)
    assert recorded["variants"]["v1"]["judge"]["mean"] is not None
    models = {r.body.get("model") for r in fake_server.chat_requests()}
    assert "judge-m" in models  # the judge on a model apart from the writers'


def test_a_judge_that_gives_no_valid_scores_leaves_the_run_unjudged(
    cli: Any, fake_server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes._replies import Reply

    judging = JudgingResponder(approve_after=0)

    def zero_scores(body: dict[str, Any]) -> Reply:
        if '"RubricScores"' not in json.dumps(body):
            return judging(body)
        score = {"score": 0, "quote": "x"}  # as Gemma 3 270M answered without a grammar bound
        return Reply(content=json.dumps({"scores": {"clarity": score}}))

    fake_server.responder = zero_scores
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    suite = SUITE.replace("repeats = 2", "repeats = 1")

    result = cli("eval", str(write_suite(tmp_path, suite)), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["variants"]["v1"]["unjudged"] == 2
    assert report["variants"]["v1"]["judge"]["mean"] is None
    assert report["variants"]["v1"]["readability"]["mean"] is not None  # the rest is scored
