"""`copydesk traces`: Arize Phoenix on this machine, as the viewer of copydesk's traces.

It starts Phoenix (the `traces` extra: `pip install 'copydesk[traces]'`) on 127.0.0.1 with
its SQLite under `COPYDESK_HOME/phoenix/`, waits until it answers, writes its address to
`COPYDESK_HOME/phoenix/address` (where a run with `COPYDESK_TRACES=1` and no
`OTEL_EXPORTER_OTLP_ENDPOINT` sends its spans), prints the address, and runs until Ctrl-C or
SIGTERM, when it stops Phoenix and removes the address.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from copydesk.agents.errors import CopydeskError
from copydesk.agents.telemetry.core import LOCAL_VIEWER
from copydesk.graphs.cli.common import err, settings_from_flags

__all__ = ["TracesError", "register"]

STARTUP = 300.0
"""Seconds Phoenix may take to answer (it imports a lot; a loaded machine is slow)."""


class TracesError(CopydeskError):
    """`copydesk traces` cannot start Phoenix as asked."""

    exit_code = 2


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def traces(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Phoenix's port.")] = 6006,
) -> None:
    """Start Arize Phoenix here and send this home's traced runs to it (Ctrl-C stops)."""
    settings = settings_from_flags()
    if importlib.util.find_spec("phoenix") is None:  # pragma: no cover - tests have the extra
        raise TracesError(
            "Arize Phoenix is not installed; pip install 'copydesk[traces]' (or `make traces`)"
        )
    if not _free(port):
        raise TracesError(f"port {port} on 127.0.0.1 is taken; pick another --port")
    folder = settings.home / LOCAL_VIEWER.parent
    folder.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(folder.resolve()),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_any_port()),  # copydesk sends OTLP over HTTP only
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    with (folder / "phoenix.log").open("ab") as log:
        phoenix = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"], env=env, stdout=log, stderr=log
        )
    address = settings.home / LOCAL_VIEWER
    signal.signal(signal.SIGTERM, _stop)
    try:
        _wait_until_up(phoenix, url, folder / "phoenix.log")
        address.write_text(url + "\n", encoding="utf-8")
        err.print(f"copydesk traces: Phoenix at {url} (Ctrl-C stops)", markup=False)
        err.print(
            f"  COPYDESK_TRACES=1 sends the runs of {settings.home} there; elsewhere set "
            f"OTEL_EXPORTER_OTLP_ENDPOINT={url} OTEL_METRICS_EXPORTER=none",
            markup=False,
        )
        phoenix.wait()
    except KeyboardInterrupt:
        pass
    finally:
        address.unlink(missing_ok=True)
        if phoenix.poll() is None:
            phoenix.terminate()
            phoenix.wait(timeout=30)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_until_up(phoenix: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP
    while phoenix.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise _not_started(log)  # pragma: no cover - tests run a Phoenix that starts


def _not_started(log: Path) -> TracesError:  # pragma: no cover - as above
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
    return TracesError(f"Phoenix did not start ({' '.join(tail) or 'no output'}); its log is {log}")


def register(app: typer.Typer) -> None:
    """Add `copydesk traces` to `app`."""
    app.command("traces")(traces)
