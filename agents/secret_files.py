"""Secrets from `NAME_FILE`, re-read when the file is rotated, and the audit line of each use.

A secret may come from a file named by `NAME_FILE` (for example
`OPENAI_API_KEY_FILE=/run/secrets/openai`); `NAME` itself in the environment beats the file.
The file is re-read when its modification time, size or inode changes, so a rotated key is
picked up without a restart. Every use of a secret appends one JSON line to
`COPYDESK_HOME/audit.log` naming the secret, where it came from and its fingerprint, never
its value.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from copydesk.agents.errors import ConfigError

__all__ = ["Secrets", "file_stamp", "secret_file"]

Stamp = tuple[int, int, int]
"""What tells a rewritten file: modification time (ns), size and inode."""


def file_stamp(path: Path) -> Stamp:
    """The stamp of `path` now.

    Raises:
        OSError: The file cannot be examined.
    """
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def secret_file(alias: str, files: Callable[[], Mapping[str, Any]]) -> Path | None:
    """The `ALIAS_FILE` the secret `alias` is read from, or None when none is named or `alias`
    itself is in the environment. `files` gives the values of the config files; it is asked
    only when the environment names no file."""
    path_text = os.environ.get(f"{alias}_FILE") or files().get(f"{alias}_FILE")
    if not path_text or alias in os.environ:
        return None
    return Path(str(path_text))


@dataclass
class Secrets:
    """The secret files of one `ConfigManager`: where each secret comes from, when its file
    was last read, and the audit log of each use. Not locked: the manager holds its lock."""

    stamps: dict[str, Stamp] = field(default_factory=dict)
    """When each secret's file was last read, by environment name."""
    paths: dict[str, Path | None] = field(default_factory=dict)
    """The file each secret comes from (None: not from a file), found once."""
    audit_ready: bool = False
    """Whether the home folder for the audit log exists."""

    def read(self, alias: str, files: Callable[[], Mapping[str, Any]]) -> str | None:
        """The secret from its `ALIAS_FILE`, or None when it does not come from a file.

        Raises:
            ConfigError: The file cannot be read or is not text.
        """
        path = secret_file(alias, files)
        if path is None:
            return None
        try:
            stamp = file_stamp(path)
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"{alias}_FILE: cannot read {path}: {error.strerror}; fix the path"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"{alias}_FILE: {path} is not a text file; put the key alone in it as text"
            ) from None
        self.stamps[alias] = stamp
        return value

    def path(self, alias: str, files: Callable[[], Mapping[str, Any]]) -> Path | None:
        """The file the secret `alias` comes from (found on first ask), or None."""
        if alias not in self.paths:
            self.paths[alias] = secret_file(alias, files)
        return self.paths[alias]

    def rotated(self, alias: str, path: Path) -> str | None:
        """The secret in `path` when the file changed since it was last read, else None.

        A file gone for a moment (a rotation by rename), unreadable or empty (written in place
        and caught half way) gives None: the last key is kept and the file read again next time.
        """
        try:
            stamp = file_stamp(path)
        except OSError:
            return None
        if stamp == self.stamps.get(alias):
            return None
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        if not value:
            return None
        self.stamps[alias] = stamp
        return value

    def audit(self, home: Path, alias: str, source: str, print_: str, use: str | None) -> None:
        """Append one line to `home/audit.log`: the secret, its source, its fingerprint
        `print_` and its `use`. Never fails a run: a read-only home goes unaudited."""
        try:
            if not self.audit_ready:
                home.mkdir(parents=True, exist_ok=True)
                self.audit_ready = True
            entry: dict[str, Any] = {"time": time.time(), "secret": alias, "source": source}
            entry["id"] = print_
            if use:
                entry["use"] = use
            with (home / "audit.log").open("a", encoding="utf-8") as audit:
                audit.write(json.dumps(entry) + "\n")
        except OSError:
            pass  # auditing must never stop a run; the home may be read-only
