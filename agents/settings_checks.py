"""Checks of setting values that a pattern cannot express: URLs that parse (a host, a port
from 1 to 65535, a path where one is needed), keys that can travel in an HTTP header, folders
that exist. `Settings` runs them when it loads, so a bad value is one line before any work,
never a retry loop or a traceback later.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "check_api_key",
    "check_checkpoint_url",
    "check_folder",
    "check_home",
    "check_url",
    "range_fix",
]


def check_url(url: str, schemes: tuple[str, ...], *, host_required: bool = True) -> str:
    """`url` if it parses as one of `schemes` with a host and a valid port.

    Raises:
        ValueError: What is wrong with it and the shape to use.
    """
    shape = f"use {schemes[0]}://host[:port]/..."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"the port is not a number from 1 to 65535; {shape}") from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"the scheme must be {' or '.join(schemes)}; {shape}")
    host_and_port = parts.netloc.rpartition("@")[2]
    if host_required and not parts.hostname:
        raise ValueError(f"the URL names no host; {shape}")
    if host_and_port.endswith(":") or port == 0:
        raise ValueError(f"the port is empty or 0; give a number from 1 to 65535 or none; {shape}")
    return url


def check_checkpoint_url(url: str) -> str:
    """A checkpoint URL: `memory:`, `sqlite:///path` with a path, or a PostgreSQL URL."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url[7:]
        if not path.strip():
            raise ValueError("the sqlite URL names no file; use sqlite:///path/to/file.sqlite")
        return url
    if url.startswith(("postgres://", "postgresql://")):
        return check_url(url, ("postgresql", "postgres"), host_required=False)
    return url


def check_api_key(key: str) -> str:
    """An API key: one line of printable characters with no spaces (an HTTP header carries it).

    The message never quotes the key.
    """
    if not key:
        raise ValueError("the key is empty; set it, or unset it for the offline model")
    if any(not ch.isprintable() or ch.isspace() or ord(ch) > 0xFF for ch in key):
        raise ValueError(
            "the key holds spaces, control or non-Latin-1 characters (a binary file or "
            "several lines?); it must be the key alone on one line"
        )
    return key


def check_folder(path: Path) -> Path:
    """`path` if it is an existing folder."""
    if not path.exists():
        raise ValueError(f"{path} does not exist; create it or fix the path")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder; name a folder")
    return path


def check_home(path: Path) -> Path:
    """`path` if it is a folder or does not exist yet (it is created on first write), and
    what it holds (usage and audit logs, checkpoints, transcripts, memory) is of its kind."""
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"{path} is a file, not a folder; point it at a folder (created if missing)"
        )
    for name, (folder, what) in _HOME_PARTS.items():
        part = path / name
        if part.exists() and part.is_dir() != folder:
            kind = "a folder" if part.is_dir() else "a file"
            raise ValueError(
                f"{part} is {kind}, not {what}; move it aside (copydesk writes "
                f"{'files in it' if folder else 'to it'} as it runs)"
            )
    return path


_HOME_PARTS: dict[str, tuple[bool, str]] = {
    "usage.jsonl": (False, "the usage log"),
    "audit.log": (False, "the audit log"),
    "checkpoints.sqlite": (False, "the checkpoint database"),
    "transcripts": (True, "the transcripts folder"),
    "memory": (True, "the memory folder"),
}
"""What a home holds, by name: (a folder?, what it is). One of the wrong kind would fail a
run after its first checkpoint was written, so it is refused when the settings load."""


def range_fix(bounds: Mapping[str, Any]) -> str:
    """The fix for a number out of its range, every bound said (pydantic's message names only
    the one that failed): `{">=": 1, "<=": 1000}` -> "; use a number from 1 to 1000"; "" for
    no bounds. Keys are ">=", ">", "<=", "<"."""
    if set(bounds) == {">=", "<="}:
        return f"; use a number from {bounds['>=']} to {bounds['<=']}"
    said = " and ".join(f"{sign} {value}" for sign, value in bounds.items())
    return f"; use a number {said}" if said else ""
