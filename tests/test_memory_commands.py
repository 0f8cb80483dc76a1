"""`copydesk memory stats|forget` and `copydesk prune` at their edges: a store in PostgreSQL
forgotten whole, a home with nothing remembered yet, the text forms."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.config import Settings
from copydesk.memory.store import forget_all, memory_path
from tests._cli import in_process_cli


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """`copydesk ARGS` in this process, home under tmp_path, offline."""
    yield from in_process_cli(home, monkeypatch)


def test_a_store_in_postgresql_is_forgotten_whole(
    cli: Callable[..., Any], postgres_url: str, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("COPYDESK_STORE_URL", postgres_url)
    assert cli("run", "turn_taking", "-t", "Harbour seals", "--thread-id", "seals").exit_code == 0
    before = json.loads(cli("memory", "stats", "--json").stdout)

    forgot = cli("memory", "forget", "--all")
    after = json.loads(cli("memory", "stats", "--json").stdout)

    assert before["items"] > 0 and before["vectors"] > 0 and before["path"] is None
    assert forgot.exit_code == 0
    assert forgot.stdout == "forgot everything in the store at COPYDESK_STORE_URL\n"
    assert (after["items"], after["vectors"], after["namespaces"]) == (0, 0, 0)
    assert not memory_path(_Home(home)).exists()  # nothing was ever kept under home


class _Home:
    """The two settings `memory.store` reads."""

    def __init__(self, home: Path, store_url: str | None = None) -> None:
        self.home, self.store_url = home, store_url


def test_forget_all_deletes_the_folder_under_home(
    cli: Callable[..., Any], home: Path, make_settings: Callable[..., Settings]
) -> None:
    assert cli("run", "turn_taking", "-t", "Harbour seals").exit_code == 0
    assert json.loads(cli("memory", "stats", "--json").stdout)["items"] > 0

    forget_all(make_settings())

    assert not memory_path(make_settings()).exists()
    assert cli("memory", "search", "seals").stdout == "no memories yet\n"


def test_nothing_remembered_yet(cli: Callable[..., Any], home: Path) -> None:
    forgot = cli("memory", "forget", "--thread", "seals")
    stats = cli("memory", "stats")
    pruned = cli("prune", "--keep-last", "1")

    assert forgot.exit_code == 0 and forgot.stdout == "no memories yet\n"
    facts = dict(line.split(None, 1) for line in stats.stdout.splitlines())
    assert (facts["items"], facts["index"], facts["path"]) == ("0", "flat", str(home / "memory"))
    assert pruned.exit_code == 0
    assert pruned.stdout.startswith("pruned 0 checkpoint(s) from 0 thread(s), kept 0; freed 0")
    assert not home.exists()  # asking created nothing
