"""Arize Phoenix for the trace tests: one real Phoenix server per test session, and its spans.

`phoenix` starts `phoenix serve` (the `traces` extra) on free loopback ports with its SQLite
in a temporary folder and its own telemetry off, once per session; each test sends its spans
to a Phoenix project of its own (`OTEL_RESOURCE_ATTRIBUTES`) and reads them back through
Phoenix's REST API. Without Phoenix installed the tests skip (fail under
COPYDESK_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import importlib.util
import os
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

from tests.conftest import _service_unavailable

STARTUP = 240.0  # Phoenix imports a lot; on a loaded 2-core machine it takes a while
Spans = list[dict[str, Any]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix: where to send spans, and how to read them back."""

    url: str

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

    def wait_for(self, project: str, ready: Callable[[Spans], bool], timeout: float = 60.0) -> Spans:
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
    """A real Phoenix server for the whole session."""
    if importlib.util.find_spec("phoenix") is None:
        _service_unavailable("Arize Phoenix is not installed (pip install 'copydesk[traces]')")
    folder: Path = tmp_path_factory.mktemp("phoenix")
    port, grpc = free_port(), free_port()
    env = {
        "PHOENIX_WORKING_DIR": str(folder),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    with (folder / "phoenix.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"],
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            assert process.poll() is None, (folder / "phoenix.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Phoenix did not start"
            time.sleep(0.2)
        yield Phoenix(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a Phoenix that hangs on exit
            process.kill()
            process.wait()
