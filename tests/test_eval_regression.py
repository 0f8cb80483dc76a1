"""The planted regression is found exactly: a scripted writer on the stand-in server rewrites
one paragraph nobody asked about in each revision, and `copydesk eval` reports that share
(`benchmarks/eval.py` at its smallest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.eval import ScriptedWriter, suite
from tests._cli import in_process_cli
from tests.fakes import FakeOpenAIServer


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from in_process_cli(home, monkeypatch)


def test_the_planted_regression_is_reported_exactly(
    cli: Any, fake_server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = ScriptedWriter(rounds=3)
    fake_server.responder = writer
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    result = cli("eval", str(suite(tmp_path, cases=2)), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sum(len(d) - 1 for d in writer.drafts.values()) == 4  # two revisions per case
    assert writer.planted() == 0.25
    assert report["variants"]["editor-v1"]["regression_rate"]["mean"] == writer.planted()
    assert all(r["scores"]["regression_rate"] == 0.25 for r in report["runs"])
    assert report["variants"]["editor-v1"]["issues_addressed"]["mean"] == 1.0
