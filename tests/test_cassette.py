"""Record and replay: `--record` writes every model exchange, scrubbed, in order; `--replay`
serves them with no server and gives the same output and transcript; the first request that
does not match is one line naming the agent, the round and the field; `--record-missing`
records only what is new; a bad cassette is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.client.matching import first_difference
from tests._cli import in_process_cli
from tests.fakes import FakeOpenAIServer
from tests.fakes.topologies import TopologyResponder

CANARY = "sk-canary-7f3e9a1c5b"


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from in_process_cli(home, monkeypatch)


@pytest.fixture
def live(fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIServer:
    """Runs go to the fake server with the canary key; the editor asks for one revision."""
    fake_server.responder = TopologyResponder(approve_after=1)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    return fake_server


def offline(monkeypatch: pytest.MonkeyPatch, home: Path, where: Path) -> None:
    """No server, no key, a new home: what a replay has."""
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("COPYDESK_HOME", str(where))


def transcript_without_times(home: Path) -> list[dict[str, Any]]:
    (path,) = (home / "transcripts").glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in line.items() if k != "time"} for line in lines]


def one_line(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_replay_needs_no_server_and_prints_the_same(
    cli: Any, live: FakeOpenAIServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "run.json"
    recorded = cli("run", "turn_taking", "-t", "Tide pools", "--record", str(cassette))
    assert recorded.exit_code == 0, recorded.output
    sent = live.requests
    live.stop()

    data = json.loads(cassette.read_text())
    paths = [i["request"]["uri"].rsplit("/v1", 1)[1] for i in data["interactions"]]
    assert paths == [r.path.removeprefix("/v1") for r in sent]  # every exchange, in order
    assert "/embeddings" in paths and paths.count("/chat/completions") == 4  # 2 rounds
    streamed = [i for i in data["interactions"] if '"stream": true' in i["request"]["body"]]
    assert streamed and "data: " in streamed[0]["response"]["body"]["string"]
    assert CANARY not in cassette.read_text()
    assert all("authorization" not in i["request"]["headers"] for i in data["interactions"])
    assert data["copydesk"]["graph"] == "turn_taking"

    offline(monkeypatch, home, tmp_path / "replayed")
    replayed = cli("run", "turn_taking", "-t", "Tide pools", "--replay", str(cassette))

    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout == recorded.stdout  # the thread's name included
    assert transcript_without_times(tmp_path / "replayed") == transcript_without_times(home)
    assert json.loads(cassette.read_text()) == data  # a replay writes nothing


def test_the_first_request_that_differs_is_named(
    cli: Any, live: FakeOpenAIServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "run.json"
    assert cli("run", "turn_taking", "-t", "Tide pools", "--record", str(cassette)).exit_code == 0
    live.stop()
    offline(monkeypatch, home, tmp_path / "replayed")

    other_topic = cli(
        "run", "turn_taking", "-t", "Rock pools", "--replay", str(cassette), "--thread-id", "t2"
    )
    other_model = cli(
        "run", "turn_taking", "-t", "Tide pools", "--replay", str(cassette), "--model", "gpt-x",
        "--thread-id", "t3",
    )  # fmt: skip

    line = one_line(other_topic)  # its recall's embeddings come first, and differ first
    assert "the writer's embeddings request in round 1" in line and "at input[0]" in line
    assert "the thread is saved" in line
    assert "differs from the cassette at model" in one_line(other_model)
    threads = cli("threads").stdout
    assert "t2" in threads and "t3" in threads  # saved, to resume or inspect


def test_record_missing_records_only_what_is_new(
    cli: Any, live: FakeOpenAIServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "run.json"
    first = ("run", "turn_taking", "-t", "Tide pools", "--thread-id", "one")
    assert cli(*first, "--record", str(cassette)).exit_code == 0
    recorded = len(json.loads(cassette.read_text())["interactions"])
    calls = len(live.requests)

    monkeypatch.setenv("COPYDESK_HOME", str(tmp_path / "again"))
    again = cli(*first, "--record-missing", str(cassette))
    assert again.exit_code == 0, again.output
    assert len(live.requests) == calls  # all of it served from the cassette
    assert len(json.loads(cassette.read_text())["interactions"]) == recorded

    live.responder = TopologyResponder(approve_after=1)
    more = cli(
        "run", "turn_taking", "-t", "Salt marsh", "--thread-id", "two",
        "--record-missing", str(cassette),
    )  # fmt: skip
    assert more.exit_code == 0, more.output
    added = len(live.requests) - calls
    assert added > 0
    assert len(json.loads(cassette.read_text())["interactions"]) == recorded + added


def test_a_fork_and_a_resume_replay_too(
    cli: Any, live: FakeOpenAIServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("run", "turn_taking", "-t", "Tide pools", "--thread-id", "base").exit_code == 0
    rows = json.loads(cli("history", "base", "--json").stdout)
    start = next(r["checkpoint_id"] for r in rows if r["step"] == 1)
    shutil.copytree(home, tmp_path / "copy")
    cassette = tmp_path / "fork.json"
    forked = cli("fork", "base", "--checkpoint", start, "--record", str(cassette))
    assert forked.exit_code == 0, forked.output
    live.stop()

    offline(monkeypatch, home, tmp_path / "copy")
    replayed = cli("fork", "base", "--checkpoint", start, "--replay", str(cassette))
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout == forked.stdout
    resumed = cli("resume", "base", "--replay", str(cassette))
    assert resumed.exit_code == 0, resumed.output  # a finished thread asks for no call


def cassette_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json {", "is not a cassette"),
        ('{"interactions": []}', "is not a copydesk cassette"),
        (
            '{"copydesk": {"format": "copydesk-cassette/1", "graph": "debate"},'
            ' "interactions": []}',
            "recorded for the topology debate, not turn_taking",
        ),
    ],
    ids=["not-json", "no-header", "other-topology"],
)
def test_a_cassette_that_cannot_be_replayed_is_one_line(
    cli: Any, home: Path, tmp_path: Path, content: str, said: str
) -> None:
    path = cassette_file(tmp_path, content)
    result = cli("run", "turn_taking", "-t", "Tide pools", "--replay", str(path))
    assert said in one_line(result)
    assert not home.exists()


def test_cassette_flags_refused_before_any_work(cli: Any, home: Path, tmp_path: Path) -> None:
    run = ("run", "turn_taking", "-t", "Tide pools")
    missing = cli(*run, "--replay", str(tmp_path / "none.json"))
    both = cli(*run, "--record", str(tmp_path / "a.json"), "--replay", str(tmp_path / "b.json"))
    folder = cli(*run, "--record", str(tmp_path))
    nowhere = cli(*run, "--record", str(tmp_path / "no" / "a.json"))
    offline_record = cli(*run, "--record", str(tmp_path / "a.json"))

    assert "does not exist; record it first" in one_line(missing)
    assert "not several" in one_line(both)
    assert "is a folder" in one_line(folder)
    assert "does not exist; create it" in one_line(nowhere)
    assert "needs a model server" in one_line(offline_record)
    assert not home.exists()
    assert not (tmp_path / "a.json").exists()


def test_matching_ignores_times_and_ids_and_names_the_first_field() -> None:
    from copydesk.agents.client.matching import normal

    class Sent:
        def __init__(self, body: dict[str, Any]) -> None:
            self.body = json.dumps(body).encode()

    def body(text: str, **params: Any) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": text}], **params}

    noon, one = "2026-12-07T12:00:00Z", "2026-12-07 13:01:09+01:00"
    at_noon = Sent(body(f"At {noon}, req 0f8fad5b-d9cb-469f-a165-70867728950e", user="a"))
    at_one = Sent(body(f"At {one}, req 7c9e6679-7425-40de-944b-e07fc1f90ae7", user="b"))
    warmer = Sent(body("At 2026-12-07T12:00:00Z, req x", temperature=0.9))

    assert normal(at_noon) == normal(at_one)
    assert first_difference(normal(warmer), normal(at_noon)) == "messages[0].content"
    assert first_difference({"model": "m", "n": 1}, {"model": "m"}) == "n"
    assert first_difference({"messages": [1]}, {"messages": [1, 2]}) == (
        "messages (1 items sent, 2 recorded)"
    )
    assert first_difference([1], {"a": 1}) == "body"


def test_what_is_written_is_scrubbed() -> None:
    from vcr.request import Request

    from copydesk.agents.client.cassette import _scrub_request, _scrub_response

    sent = Request(
        "POST",
        f"https://example.openai.azure.com/v1/chat/completions?api-version=1&api-key={CANARY}",
        b"{}",
        {"Authorization": f"Bearer {CANARY}", "api-key": CANARY, "Content-Type": "x"},
    )
    written = _scrub_request(sent)
    response = _scrub_response({"headers": {"Set-Cookie": ["s=1"], "x-request-id": ["r"]}})

    assert CANARY not in written.uri and "api-version=1" in written.uri
    assert set(written.headers) == {"Content-Type", "x-copydesk-site"}
    assert response["headers"] == {"x-request-id": ["r"]}


def test_interactions_that_cannot_be_read_are_one_line(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    path = cassette_file(
        tmp_path,
        '{"copydesk": {"format": "copydesk-cassette/1"}, "interactions": [{"request": 1}]}',
    )
    result = cli("run", "turn_taking", "-t", "Tide pools", "--replay", str(path))
    assert "its interactions cannot be read" in one_line(result)
    assert not home.exists()


def test_a_request_with_no_recorded_counterpart_says_why() -> None:
    from copydesk.agents.client.matching import SITE_HEADER, explain

    class Seen:
        def __init__(self, site: str, body: bytes, path: str = "/v1/chat/completions") -> None:
            self.method, self.path, self.body = "POST", path, body
            self.headers = {SITE_HEADER: site}

    editor = '["", "editor", 2]'
    recorded = [(Seen(editor, b'{"model": "m"}'), {}), (Seen("not json", b"x"), {})]

    assert "none was recorded" in explain(Seen('["", "writer", 3]', b"{}"), recorded, {})
    assert "already played" in explain(Seen(editor, b"{}"), recorded, {0: 1})
    assert "the editor's call in round 2 differs" in explain(Seen(editor, b"{}"), recorded, {})
    assert "the model's call differs from the cassette at body" in explain(
        Seen("[]", b"\xff"), recorded, {0: 1}
    )


def test_embeddings_are_served_text_by_text_however_they_were_batched() -> None:
    from copydesk.agents.client.embedding_replay import EmbeddingBook

    class Seen:
        def __init__(self, body: Any, path: str = "/v1/embeddings") -> None:
            self.path, self.body = path, body if isinstance(body, bytes) else json.dumps(body)

    def reply(vectors: list[Any], code: int = 200) -> dict[str, Any]:
        data = [{"index": n, "embedding": v} for n, v in enumerate(vectors)]
        return {"status": {"code": code}, "body": {"string": json.dumps({"data": data})}}

    book = EmbeddingBook()
    book.learn([
        (Seen({"model": "e", "input": ["tide", "pool"]}), reply(["T", "P"])),
        (Seen({"model": "e", "input": "crab"}), reply(["C"])),
        (Seen({"model": "e", "input": ["lost"]}), reply(["L"], code=429)),
        (Seen(b"not json"), reply([])),
        (Seen({"model": "e", "input": ["x"]}), {"status": {"code": 200}, "body": {}}),
        (Seen({"model": "m"}, path="/v1/chat/completions"), reply([])),
    ])  # fmt: skip

    served = book.reply(Seen({"model": "e", "input": ["pool", "crab", "tide"]}))
    assert served is not None
    vectors = [d["embedding"] for d in json.loads(served["body"]["string"])["data"]]
    assert vectors == ["P", "C", "T"]
    assert book.reply(Seen({"model": "e", "input": ["lost"]})) is None  # a 429 taught nothing
    assert book.reply(Seen({"model": "other", "input": ["tide"]})) is None
    assert book.reply(Seen(b"[1]")) is None
