"""`copydesk memory search|stats|forget` and `copydesk prune` on a real home directory."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from copydesk.agents.client.embeddings import embedder_for
from copydesk.agents.config import ConfigManager
from copydesk.graphs.cli.app import build
from copydesk.graphs.manager import ConversationManager
from copydesk.memory.store import make_store
from tests.fakes import FakeOpenAIServer


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Invoke `copydesk` with COPYDESK_HOME set (offline model and embedder)."""
    monkeypatch.setenv("COPYDESK_HOME", str(home))
    app = build()  # the whole command, inside its error boundary
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args))

    # Each command sets up logging on the runner's stderr; put the test's back after.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield invoke
    root.handlers, root.level = handlers, level


async def _thread(make_settings: Any, thread: str, topic: str) -> None:
    async with ConversationManager(make_settings()) as manager:
        await manager.run("turn_taking", topic=topic, thread_id=thread)


async def test_search_stats_and_forget(cli: Any, make_settings: Any, home: Path) -> None:
    """A run leaves memories that search finds by meaning; forget removes a thread's."""
    assert "no memories yet" in cli("memory", "search", "anything").output
    await _thread(make_settings, "bees", "Ilse the lighthouse keeper keeps bees")
    await _thread(make_settings, "trains", "Night trains across the Alps")
    found = json.loads(cli("memory", "search", "lighthouse bees", "--json").output)
    assert found[0]["text"].startswith("Ilse the lighthouse keeper") or "bees" in found[0]["text"]
    assert {row["thread"] for row in found[:2]} == {"bees"}
    only = json.loads(cli("memory", "search", "night", "--thread", "trains", "--json").output)
    assert only and {row["namespace"] for row in only} == {"copydesk/thread/trains"}
    stats = json.loads(cli("memory", "stats", "--json").output)
    assert stats["embedder"] == "lexical-v1-384" and stats["items"] >= 4
    forgot = cli("memory", "forget", "--thread", "bees")
    assert forgot.exit_code == 0 and "forgot" in forgot.output
    left = json.loads(cli("memory", "search", "bees", "--thread", "bees", "--json").output)
    assert left == []
    assert cli("memory", "forget", "--all").exit_code == 0
    assert not (home / "memory").exists()


STATS_KEYS = ["items", "vectors", "pending", "namespaces", "index", "index_size", "embedder",
              "dims", "path"]  # fmt: skip


def test_stats_names_every_key_on_new_and_emptied_stores(
    cli: Any, make_settings: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store with nothing in it (not made yet, emptied, or deleted) reports the same keys
    as a used one: zero counts, a flat index and the embedder a run would use."""
    empty = {"items": 0, "vectors": 0, "pending": 0, "namespaces": 0, "index": "flat",
             "index_size": 0, "embedder": "lexical-v1-384", "dims": 384,
             "path": str(home / "memory")}  # fmt: skip
    new = cli("memory", "stats", "--json")
    assert new.exit_code == 0 and json.loads(new.output) == empty
    assert not home.exists()  # stats of no store creates none
    text = cli("memory", "stats").output.splitlines()
    assert [line.split()[0] for line in text] == STATS_KEYS
    assert "embedder    lexical-v1-384" in text and "dims        384" in text
    monkeypatch.setenv("COPYDESK_EMBEDDING_DIMS", "256")
    assert json.loads(cli("memory", "stats", "--json").output)["embedder"] == "lexical-v1-256"
    monkeypatch.delenv("COPYDESK_EMBEDDING_DIMS")

    asyncio.run(_thread(make_settings, "bees", "Bees in the city"))
    used = json.loads(cli("memory", "stats", "--json").output)
    assert list(used) == STATS_KEYS and used["vectors"] >= 4 and used["namespaces"] == 2
    assert cli("memory", "forget", "--thread", "bees").exit_code == 0
    assert cli("memory", "forget", "--project", "default").exit_code == 0
    assert json.loads(cli("memory", "stats", "--json").output) == empty  # emptied
    assert cli("memory", "forget", "--all").exit_code == 0
    assert json.loads(cli("memory", "stats", "--json").output) == empty  # deleted


def test_forget_needs_a_target(cli: Any, home: Path) -> None:
    """No target is a one-line error, exit 2, nothing written."""
    result = cli("memory", "forget")
    assert result.exit_code == 2
    assert result.output.strip().startswith("copydesk: error: say what to forget")
    assert not home.exists()


def test_prune_reports_and_refuses_memory(cli: Any, make_settings: Any, monkeypatch) -> None:
    """Prune reports what it freed; `memory:` checkpoints are a clear error."""
    asyncio.run(_thread(make_settings, "p1", "Salt marshes"))  # prune runs its own loop
    report = json.loads(cli("prune", "--keep-last", "1", "--json").output)
    assert report["threads"] == 1 and report["kept"] >= 1 and report["bytes_freed"] >= 0
    unknown = cli("prune", "--thread", "p2", "--keep-last", "0")
    assert unknown.exit_code == 2
    assert (
        unknown.output
        == "copydesk: error: unknown thread 'p2'; `copydesk threads` lists the known ones\n"
    )
    known = json.loads(cli("prune", "--thread", "p1", "--json").output)
    assert known["threads"] == 1 and known["kept"] == report["kept"]
    monkeypatch.setenv("COPYDESK_CHECKPOINT_URL", "memory:")
    refused = cli("prune")
    assert refused.exit_code == 2 and "nothing to prune" in refused.output


def test_search_with_a_rejected_key_is_one_line(cli: Any, monkeypatch, home: Path) -> None:
    """A key the server rejects ends `memory search` with one line that names no secret."""
    secret = "sk-wrong-0123456789abcdef"
    with FakeOpenAIServer(api_key="sk-right") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        settings = ConfigManager().settings
        store = make_store(settings, embedder_for(settings))  # OpenAI-embedded, one item
        store.put(("copydesk", "thread", "t"), "k", {"text": "harbour"}, index=False)
        store.close()
        result = cli("memory", "search", "harbour")
    assert result.exit_code == 2
    # The item was put with index=False: the store keeps that mark, so opening it queues
    # nothing for embedding and says nothing (see memory/_repair.py).
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("copydesk: error: embedding the query failed")
    assert "401" in lines[0] and secret not in result.output and "wrong" not in result.output
