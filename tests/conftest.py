"""Shared fixtures: an isolated environment per test, a fake OpenAI server, no real network."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.config import ConfigManager, Settings
from tests.fakes import FakeOpenAIServer

_SETTING_PREFIXES = ("OPENAI_", "COPYDESK_", "LANGCHAIN_", "LANGSMITH_", "OTEL_")


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets and the like stay on this machine


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real network beyond loopback fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's shell, .env or copydesk.toml."""
    for name in list(os.environ):
        if name.startswith(_SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    # Offline memories on the lexical embedder (fast, deterministic); MiniLM has its own tests.
    monkeypatch.setenv("COPYDESK_LOCAL_EMBEDDER", "lexical")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """COPYDESK_HOME for this test (not created until something writes there)."""
    return tmp_path / "home"


@pytest.fixture
def make_settings(home: Path) -> Callable[..., Settings]:
    """Settings for this test: flags by field name, home under tmp_path."""

    def make(**flags: Any) -> Settings:
        return ConfigManager(flags={"home": home, **flags}).settings

    return make


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server on 127.0.0.1, fresh per test."""
    with FakeOpenAIServer() as server:
        yield server


DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _service_unavailable(reason: str) -> None:
    """Skip, or fail when CI requires the services (COPYDESK_REQUIRE_SERVICES=1)."""
    if os.environ.get("COPYDESK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (COPYDESK_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    import secrets

    try:
        import psycopg
    except ImportError:  # pragma: no cover - the dev extra installs it
        _service_unavailable("psycopg is not installed")
    base = os.environ.get("COPYDESK_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    schema = f"copydesk_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        _service_unavailable(f"PostgreSQL at {base} is unreachable: {error}")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in base else "?"
        try:
            yield f"{base}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def checkpoint_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each conversation test runs against the memory, SQLite and PostgreSQL checkpointers."""
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'checkpoints.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def make_conversation_settings(
    make_settings: Callable[..., Settings], checkpoint_url: str
) -> Callable[..., Settings]:
    """`make_settings` with the parametrized checkpoint URL (a flag may still override it)."""

    def make(**flags: Any) -> Settings:
        return make_settings(**{"checkpoint_url": checkpoint_url, **flags})

    return make


@pytest.fixture(params=["sqlite", "postgres"])
def store_form(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Each store test runs on the SQLite form and on the PostgreSQL form of `FaissStore`.

    `store_form(path=None, **options)` opens a store: a fresh one for no path, the same one
    again for the same path (a directory for SQLite, a schema of its own for PostgreSQL).
    """
    from copydesk.memory.vector import FaissStore

    if request.param == "sqlite":
        yield lambda path=None, **options: FaissStore(path, **options)
        return
    import secrets

    import psycopg

    base = os.environ.get("COPYDESK_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        _service_unavailable(f"PostgreSQL at {base} is unreachable: {error}")
    schemas: dict[Any, str] = {}

    def url_for(path: Any) -> str:
        key = path if path is not None else object()
        if key not in schemas:
            schemas[key] = f"copydesk_store_{secrets.token_hex(6)}"
            admin.execute(f"CREATE SCHEMA {schemas[key]}")
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}options=-csearch_path%3D{schemas[key]}"

    opened: list[FaissStore] = []

    def make(path: Any = None, **options: Any) -> FaissStore:
        opened.append(FaissStore(None, url=url_for(path), **options))
        return opened[-1]

    with admin:
        try:
            yield make
        finally:
            for store in opened:
                store.items.close()  # closing twice is harmless
            for schema in schemas.values():
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
