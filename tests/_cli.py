"""Running the `copydesk` command as a real subprocess, for the end-to-end tests.

Each run gets an explicit environment (no OPENAI_* or COPYDESK_* leaking in from the shell),
its home under tmp_path, and, for HTTP runs, the fake OpenAI server on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.fakes import FakeOpenAIServer

ENTRY = "from copydesk.graphs.cli import main; main()"
STRIPPED = ("OPENAI_", "COPYDESK_", "LANGCHAIN_", "LANGSMITH_")
TIMEOUT = 90


def cli_env(home: Path, server: FakeOpenAIServer | None = None, **extra: str) -> dict[str, str]:
    """The child's environment: the parent's minus every setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED)}
    env["COPYDESK_HOME"] = str(home)
    env["LANGSMITH_TRACING"] = "false"
    if server is not None:
        env["OPENAI_BASE_URL"] = server.base_url
        env["OPENAI_API_KEY"] = "sk-test"
    env.update(extra)
    return env


def copydesk(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `copydesk ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`proc`, after checking it succeeded (its output is in the assertion message)."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document a successful `--json` command printed."""
    return json.loads(ok(proc).stdout)


def transcript(home: Path, thread_id: str) -> list[dict[str, Any]]:
    path = home / "transcripts" / f"{thread_id}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def turns(lines: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(line["agent"], line["round"]) for line in lines]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a command that failed cleanly with exit `code`."""
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("copydesk: error:"), proc.stderr
    return lines[0]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


DIVIDING_GRAPH = '''"""A graph whose one node divides by zero."""

from langgraph.graph import END, START, StateGraph

from copydesk.graphs.state import DraftState


def divide(state):
    return {"draft": str(1 / 0)}


def build(**options):
    builder = StateGraph(DraftState)
    builder.add_node("divide", divide)
    builder.add_edge(START, "divide")
    builder.add_edge("divide", END)
    return builder.compile(checkpointer=options.get("checkpointer"))
'''


def write_dividing_graph(path: Path) -> Path:
    """A user's graph file at `path` whose one node is a bug (it divides by zero)."""
    path.write_text(DIVIDING_GRAPH, encoding="utf-8")
    return path


def in_process_cli(home: Path, monkeypatch: Any) -> Iterator[Any]:
    """`copydesk ARGS` in this process (CliRunner), home at `home`; the root logger as found.

    The body of a `cli` fixture: `yield from in_process_cli(home, monkeypatch)`.
    """
    from typer.testing import CliRunner

    from copydesk.graphs.cli.app import build

    monkeypatch.setenv("COPYDESK_HOME", str(home))
    app, runner = build(), CliRunner()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def invoke(*args: str) -> Any:
        result = runner.invoke(app, list(args))
        assert "Traceback" not in result.output, result.output
        return result

    yield invoke
    root.handlers, root.level = handlers, level
