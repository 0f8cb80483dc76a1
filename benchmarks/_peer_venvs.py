"""The peers' virtualenvs for `benchmarks/peers.py`: one per framework, pinned, built on first use.

Each peer gets `.bench/venvs/<peer>` (ignored by git), made with the standard `venv` module
and filled by pip from PyPI with the pinned requirements below, under `nice -n 10` so a build
does not starve other work on a shared machine. A stamp file records the requirements a venv
was built with; a venv whose stamp differs is rebuilt. A build that fails raises `VenvError`
with the tail of pip's log, so the benchmark can report it as a row instead of crashing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PEER_REQUIREMENTS", "VenvError", "ensure_venv", "venv_root"]

# The versions copydesk itself was measured with, so "bare LangGraph" is the same LangGraph.
PEER_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "langgraph": (
        "langgraph==1.2.24",
        "langgraph-checkpoint-sqlite==3.1.2",
        "langchain-core==1.8.3",
        "langchain-openai==1.8.1",
        "aiosqlite==0.22.1",
    ),
    "autogen": (
        "autogen-agentchat==0.7.5",
        "autogen-ext[openai]==0.7.5",
    ),
    "crewai": ("crewai==1.15.30",),
}
_STAMP = ".bench-requirements"
_BUILD_TIMEOUT = 1800.0


class VenvError(RuntimeError):
    """A peer's virtualenv could not be built; the message says why."""


def venv_root(repo: Path) -> Path:
    """Where the peers' virtualenvs live."""
    return repo / ".bench" / "venvs"


def ensure_venv(repo: Path, peer: str, *, python: str | None = None) -> Path:
    """Return the Python of `peer`'s virtualenv, building it first if needed.

    Args:
        repo: The repository root (the venv goes under `.bench/venvs`).
        peer: A key of `PEER_REQUIREMENTS`.
        python: The interpreter to build from (default: the one running this).

    Raises:
        VenvError: If the venv cannot be created or its requirements installed.
    """
    requirements = PEER_REQUIREMENTS[peer]
    home = venv_root(repo) / peer
    interpreter = home / "bin" / "python"
    stamp = home / _STAMP
    wanted = "\n".join(requirements) + "\n"
    if interpreter.exists() and stamp.exists() and stamp.read_text() == wanted:
        return interpreter
    if home.exists():
        shutil.rmtree(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    log = home.parent / f"{peer}.log"
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    steps = [
        [*nice, python or sys.executable, "-m", "venv", str(home)],
        [*nice, str(interpreter), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [*nice, str(interpreter), "-m", "pip", "install", "--quiet", *requirements],
    ]
    with log.open("w") as sink:
        for step in steps:
            sink.write(f"$ {' '.join(step)}\n")
            sink.flush()
            try:
                done = subprocess.run(
                    step, stdout=sink, stderr=subprocess.STDOUT, timeout=_BUILD_TIMEOUT
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                raise VenvError(f"{peer}: {error}") from None
            if done.returncode != 0:
                raise VenvError(f"{peer}: pip failed (see {log}): {_tail(log)}")
    stamp.write_text(wanted)
    return interpreter


def _tail(log: Path, lines: int = 3) -> str:
    """The last non-empty lines of a build log, joined on one line."""
    text = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(text[-lines:])
