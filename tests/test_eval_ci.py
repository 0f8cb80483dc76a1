"""The eval in CI: a small suite replayed from a committed cassette gives fixed numbers; a
change to prompts or code that moves a score fails with the table of differences.

`tests/fixtures/eval/` holds the suite, its rubric, the cassette (recorded against the fake
server) and `expected.json`. After a change that moves a score on purpose, record both again
with `python -m tests.test_eval_ci` and commit them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._cli import in_process_cli

FIXTURE = Path(__file__).parent / "fixtures" / "eval"
SUITE, CASSETTE, EXPECTED = (
    FIXTURE / "suite.toml",
    FIXTURE / "cassette.json",
    FIXTURE / "expected.json",
)


def numbers(report: dict[str, Any]) -> dict[str, Any]:
    """What must not move: each variant's mean and interval per metric, and each winner."""
    fixed: dict[str, Any] = {}
    for name, metrics in report["variants"].items():
        for metric, value in metrics.items():
            if isinstance(value, dict) and "mean" in value:
                fixed[f"{name} {metric}"] = [value["mean"], value["ci"]]
        fixed[f"{name} tokens"] = metrics["tokens"]
    for metric, verdict in report["comparison"].items():
        fixed[f"winner {metric}"] = verdict["winner"]
    return fixed


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    """The table of what moved ('' when nothing did)."""
    rows = [
        (key, json.dumps(expected.get(key)), json.dumps(actual.get(key)))
        for key in sorted(set(expected) | set(actual))
        if expected.get(key) != actual.get(key)
    ]
    if not rows:
        return ""
    width = max(len(r[0]) for r in rows)
    lines = [
        f"{'score':<{width}}  expected -> now",
        *(f"{k:<{width}}  {a} -> {b}" for k, a, b in rows),
    ]
    return "\n".join(lines)


def replayed(run: Any) -> dict[str, Any]:
    result = run("eval", str(SUITE), "--json", "--replay", str(CASSETTE))
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from in_process_cli(home, monkeypatch)


def test_the_committed_suite_replays_to_the_committed_numbers(cli: Any) -> None:
    actual = numbers(replayed(cli))
    expected = json.loads(EXPECTED.read_text())

    table = differences(expected, actual)
    assert not table, "scores moved; if on purpose, run `python -m tests.test_eval_ci`:\n" + table
    assert actual["editor-v1 judge"][0] is not None  # the judge was replayed too


def test_a_moved_score_is_a_table_of_differences() -> None:
    expected = json.loads(EXPECTED.read_text())
    moved = dict(expected, **{"editor-v1 readability": [1.0, [0.5, 1.5]]})

    table = differences(expected, moved)

    assert table.splitlines()[0].startswith("score")
    assert "editor-v1 readability" in table and "-> [1.0, [0.5, 1.5]]" in table
    assert differences(expected, expected) == ""


def main() -> int:  # pragma: no cover - run by hand to record the fixture again
    """Record the cassette against the fake server and write the numbers it gives."""
    import tempfile

    from typer.testing import CliRunner

    from copydesk.graphs.cli.app import build
    from tests.fakes import FakeOpenAIServer
    from tests.fakes.topologies import JudgingResponder

    with tempfile.TemporaryDirectory() as home, FakeOpenAIServer() as server:
        server.responder = JudgingResponder(approve_after=1)
        os.environ.update(
            COPYDESK_HOME=home, OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-fixture"
        )
        result = CliRunner().invoke(
            build(), ["eval", str(SUITE), "--json", "--record", str(CASSETTE)]
        )
        if result.exit_code != 0:
            print(result.output, file=sys.stderr)
            return 1
    EXPECTED.write_text(json.dumps(numbers(json.loads(result.stdout)), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
