"""Running and measuring one client of `benchmarks/peers.py`.

`FakeServer` runs `benchmarks._peer_server` as its own process (its CPU is never the
client's) and asks it what it saw. `run_client` starts one client as a child process in a
fresh working directory, waits for it with `os.wait4` (user + system CPU and peak RSS of that
process alone), and reads the server's counters for the run: a `Sample`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FakeServer", "Sample", "run_client"]

_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")
API_KEY = "sk-bench-not-a-real-key"


class FakeServer:
    """`python -m benchmarks._peer_server` as a child process, driven over its stdin."""

    def __init__(self, repo: Path, latency: float, limits: Sequence[tuple[str, float]] = ()):
        """Describe the server: `latency` seconds per answer, `limits` as (model, rps)."""
        self.argv = [sys.executable, "-m", "benchmarks._peer_server", "--latency", str(latency)]
        for model, rps in limits:
            self.argv += ["--limit", f"{model}={rps}"]
        self.repo = repo
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> FakeServer:
        """Start the server and read its base URL."""
        self._process = subprocess.Popen(
            self.argv,
            cwd=self.repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(self.repo)},
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("FAKE_OPENAI_BASE_URL="):
            raise RuntimeError(f"the fake server did not start: {line!r}")
        self.base_url = line.partition("=")[2]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close its stdin (it exits) and wait for it."""
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    def command(self, name: str) -> dict[str, Any]:
        """Send `stats` or `reset`; return the server's JSON answer."""
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(f"{name}\n")
        process.stdin.flush()
        answer: dict[str, Any] = json.loads(process.stdout.readline())
        return answer


@dataclass
class Sample:
    """One measured run of one client."""

    client: str
    conversations: int
    rounds: int
    wall: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0
    chat: int = 0
    chat_429: int = 0
    embeddings: int = 0
    embeddings_429: int = 0
    chat_span: float = 0.0  # seconds from the first chat request to the last
    error: str | None = None
    started: str = ""  # UTC time the run started
    server: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_per_call(self) -> float:
        """Seconds of client CPU per chat request the server received."""
        return self.cpu / self.chat if self.chat else float("nan")


def _environment(base_url: str, workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    """A clean environment: no settings of the caller's shell, the fake server, no telemetry."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update(
        HOME=str(workdir),
        OPENAI_BASE_URL=base_url,
        OPENAI_API_KEY=API_KEY,
        LANGSMITH_TRACING="false",
        CREWAI_DISABLE_TELEMETRY="true",
        CREWAI_TRACING_ENABLED="false",
        OTEL_SDK_DISABLED="true",
    )
    env.update(extra)
    return env


def run_client(
    server: FakeServer,
    sample: Sample,
    argv: Callable[[Path], list[str]],
    *,
    extra_env: dict[str, str],
    check: Callable[[str], str | None],
    timeout: float,
) -> Sample:
    """Run one client to the end and fill in `sample`.

    Args:
        server: The running fake server (reset here before the run).
        sample: What is being run; measurements are written into it.
        argv: The command, given the run's fresh working directory.
        extra_env: Environment on top of the clean one (e.g. `COPYDESK_MEMORY`).
        check: Given the client's stdout, an error message or None when it did the work.
        timeout: Seconds before the client is killed (and the sample marked failed).
    """
    server.command("reset")
    with tempfile.TemporaryDirectory(prefix=f"peers-{sample.client}-") as tmp:
        workdir = Path(tmp)
        out, err = workdir / "stdout.txt", workdir / "stderr.txt"
        command = argv(workdir)
        env = _environment(server.base_url, workdir, extra_env)
        with out.open("w") as stdout, err.open("w") as stderr:
            sample.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            start = time.monotonic()
            child = subprocess.Popen(command, cwd=workdir, env=env, stdout=stdout, stderr=stderr)
            killer = threading.Timer(timeout, child.kill)
            killer.start()
            _, status, usage = os.wait4(child.pid, 0)
            sample.wall = time.monotonic() - start
            killer.cancel()
            child.returncode = os.waitstatus_to_exitcode(status)
        sample.cpu = usage.ru_utime + usage.ru_stime
        sample.rss_mib = _rss_mib(usage)
        stats = server.command("stats")
        _fill_counts(sample, stats)
        if child.returncode != 0:
            sample.error = f"exit {child.returncode}: {_last_line(err)}"
        else:
            sample.error = check(out.read_text(errors="replace"))
    return sample


def _rss_mib(usage: resource.struct_rusage) -> float:
    """Peak RSS in MiB (`ru_maxrss` is KiB on Linux, bytes on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss * scale / 2**20


def _fill_counts(sample: Sample, stats: dict[str, Any]) -> None:
    """Copy the server's counters into the sample."""
    chat, embeddings = stats["chat"], stats["embeddings"]
    sample.server = stats
    sample.chat, sample.chat_429 = chat["requests"], chat["rejected_429"]
    sample.embeddings, sample.embeddings_429 = embeddings["requests"], embeddings["rejected_429"]
    if chat["first"] is not None and chat["last"] is not None:
        sample.chat_span = chat["last"] - chat["first"]


def _last_line(path: Path) -> str:
    """The last non-empty line a client wrote to stderr (its error, usually)."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "(no output)"
