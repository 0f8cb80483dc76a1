"""A topology given as a file: one that only exports a compiled `graph` runs with copydesk's
checkpointer; a file that cannot be imported, exports nothing runnable or is not Python is
refused in one line with exit 2, before anything is written."""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from copydesk.graphs.cli.app import build
from copydesk.graphs.registry import Topology, TopologyError
from copydesk.graphs.topologies import round_robin, turn_taking

ONLY_GRAPH = '''"""Turn taking, as a compiled graph only."""

from copydesk.graphs.topologies.turn_taking import build as _build

graph = _build()
del _build
'''


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`copydesk ARGS` in this process, home under tmp_path, offline."""
    monkeypatch.setenv("COPYDESK_HOME", str(home))
    app, runner = build(), CliRunner()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield lambda *args: runner.invoke(app, list(args))
    root.handlers, root.level = handlers, level


def _refused(result: Any, needle: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("copydesk: error: "), result.output
    assert needle in lines[0], lines[0]
    return str(lines[0])


def test_a_file_with_only_a_compiled_graph_runs_with_the_checkpointer(
    cli: Any, tmp_path: Path, home: Path
) -> None:
    mine = tmp_path / "mine.py"
    mine.write_text(ONLY_GRAPH, encoding="utf-8")

    listed = cli("graphs", str(mine), "--json")
    done = cli("run", str(mine), "-t", "Canal locks", "--thread-id", "locks", "--json")
    history = cli("history", "locks", "--json")

    assert json.loads(listed.output) == [
        {"name": "mine", "nodes": 3, "description": "Turn taking, as a compiled graph only."}
    ]
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "approved"
    assert history.exit_code == 0 and len(json.loads(history.stdout)) > 2  # checkpointed


def test_a_file_that_fails_to_import_is_one_line(cli: Any, tmp_path: Path, home: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def build(:\n", encoding="utf-8")

    line = _refused(cli("run", str(broken), "-t", "Canal locks"), "failed to import: SyntaxError")

    assert str(broken) in line
    assert not home.exists()


def test_a_file_without_build_or_graph_is_refused(cli: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text('"""Nothing to run here."""\n', encoding="utf-8")

    _refused(cli("graphs", str(empty)), "exports neither build() nor a compiled `graph`; add one")


def test_a_file_that_is_not_python_is_refused(cli: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("writer -> editor\n", encoding="utf-8")

    _refused(cli("graphs", str(notes)), "not a Python module")


def test_a_module_without_a_graph_cannot_build() -> None:
    empty = Topology(name="empty", description="", module=types.ModuleType("empty"))

    with pytest.raises(TopologyError, match="empty: exports neither build"):
        empty.build()


def test_a_compiled_graph_without_options_is_used_as_it_is() -> None:
    module = types.ModuleType("only_graph")
    module.graph = turn_taking.build()  # type: ignore[attr-defined]
    topology = Topology(name="only_graph", description="", module=module)

    assert topology.build() is module.graph  # type: ignore[attr-defined]


QUARTET = '''"""Four voices in turn: writer, proofreader, style editor, reader."""

from copydesk.graphs.topologies.round_robin import build as _round


def build(**options):
    return _round(roles=("writer", "proofreader", "style_editor", "reader"), **options)
'''


def test_a_round_robin_of_other_roles_speaks_in_its_order(
    cli: Any, tmp_path: Path, home: Path
) -> None:
    """Roles other than writer and editor: a proofreader writes, a style editor judges, a
    reader talks; each speaks once per round, in the order given."""
    quartet = tmp_path / "quartet.py"
    quartet.write_text(QUARTET, encoding="utf-8")

    done = cli("run", str(quartet), "-t", "Moorland", "--max-rounds", "1", "--json")

    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    lines = (home / "transcripts" / f"{result['thread_id']}.jsonl").read_text().splitlines()
    assert [json.loads(line)["agent"] for line in lines] == [
        "writer",
        "proofreader",
        "style_editor",
        "reader",
    ]
    assert result["status"] == "out_of_rounds"


def test_a_round_robin_needs_two_roles() -> None:
    with pytest.raises(ValueError, match="a round robin needs at least two roles"):
        round_robin.build(roles=("writer",))
