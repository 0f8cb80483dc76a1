"""Arize Phoenix for the trace tests: one real Phoenix server per test session, and its spans.

`phoenix` starts Phoenix (the `traces` extra) with `copydesk traces` on a free loopback port,
its SQLite in a temporary home, once per session; each test sends its spans
to a Phoenix project of its own (`OTEL_RESOURCE_ATTRIBUTES`) and reads them back through
Phoenix's REST API. Without Phoenix installed the tests skip (fail under
COPYDESK_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._cli import ENTRY, cli_env
from tests.conftest import _service_unavailable

STARTUP = 240.0  # Phoenix imports a lot; on a loaded 2-core machine it takes a while
Spans = list[dict[str, Any]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix: where to send spans, how to read them back, and the home whose
    `COPYDESK_TRACES=1` runs go there."""

    url: str
    home: Path

    def project_env(self, **extra: str) -> tuple[str, dict[str, str]]:
        """A fresh project name, and the variables that send a process's spans there."""
        project = f"copydesk-test-{secrets.token_hex(4)}"
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
            "OTEL_METRICS_EXPORTER": "none",
            **extra,
        }
        return project, env

    def spans(self, project: str) -> Spans:
        """Every span of `project` Phoenix has stored so far."""
        out: Spans = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            reply = httpx.get(f"{self.url}/v1/projects/{project}/spans", params=params, timeout=30)
            if reply.status_code == 404:  # no span reached the project yet
                return []
            reply.raise_for_status()
            body = reply.json()
            out.extend(body["data"])
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def wait_for(
        self, project: str, ready: Callable[[Spans], bool], timeout: float = 60.0
    ) -> Spans:
        """The project's spans once `ready(spans)` holds (Phoenix stores what it is sent a
        little later, in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(project)
            if ready(spans):
                return spans
            assert time.monotonic() < deadline, f"Phoenix never had the spans: {names(spans)}"
            time.sleep(0.2)


def names(spans: Spans) -> list[str]:
    return sorted(s["name"] for s in spans)


def children(spans: Spans, parent: dict[str, Any]) -> Spans:
    """The spans whose parent is `parent`, in start order."""
    found = [s for s in spans if s["parent_id"] == parent["context"]["span_id"]]
    return sorted(found, key=lambda s: s["start_time"])


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """A real Phoenix for the whole session, started as a user does: `copydesk traces`."""
    if importlib.util.find_spec("phoenix") is None:
        _service_unavailable("Arize Phoenix is not installed (pip install 'copydesk[traces]')")
    home: Path = tmp_path_factory.mktemp("phoenix-home")
    port = free_port()
    env = cli_env(home)
    with (home.parent / f"{home.name}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "traces", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=log,
            stderr=log,
        )
    address = home / "phoenix" / "address"
    try:
        deadline = time.monotonic() + STARTUP
        while not address.exists():
            assert process.poll() is None, Path(log.name).read_text()[-3000:]
            assert time.monotonic() < deadline, "Phoenix did not start"
            time.sleep(0.2)
        url = address.read_text().strip()
        assert url == f"http://127.0.0.1:{port}"
        yield Phoenix(url, home)
    finally:
        process.terminate()  # copydesk traces stops Phoenix and removes the address
        process.wait(timeout=60)
    assert not address.exists()
    assert "copydesk traces: Phoenix at" in Path(log.name).read_text()
