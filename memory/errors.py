"""Errors of the stores copydesk keeps (checkpoints, memories): each message names the store,
the problem and the fix, so a command can end with it as one line.

`memory` is a leaf: it imports nothing of ours but the base of every error
(`copydesk.errors`, which draws the whole tree); the `copydesk` command exits with `exit_code`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from copydesk.errors import CopydeskError

__all__ = [
    "DamagedStoreError",
    "StoreError",
    "StoreUnavailableError",
    "unwritable",
    "why_unwritable",
]


class StoreError(CopydeskError):
    """A store that cannot be used as configured: a bad location, not writable, damaged."""

    exit_code = 2


class DamagedStoreError(StoreError):
    """A store whose file or rows cannot be read: restore it from a backup or move it aside.

    Nothing is written to a damaged store.
    """


class StoreUnavailableError(StoreError):
    """A storage server that cannot be reached (down, wrong address): try again later."""

    exit_code = 1


def why_unwritable(path: Path) -> str | None:
    """Why the file `path`, or the folder it is in, cannot be written, found by trying (a
    read-only file system, permissions that bind even root, a file where the folder should
    be); None when both can be."""
    folder = path if path.is_dir() else path.parent
    try:
        if path.is_file():
            with path.open("r+b"):
                pass
    except OSError as error:
        return f"{path}: {error.strerror}"
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".copydesk-probe-")
    except OSError as error:
        return f"{folder}: {error.strerror}"
    os.close(handle)
    os.unlink(probe)
    return None


def unwritable(what: str, path: Path, error: BaseException) -> StoreError:
    """The one-line error of `what` at `path` that SQLite could not open for writing."""
    reason = why_unwritable(path) or " ".join(str(error).split())
    return StoreError(
        f"{what} {path} cannot be opened for writing ({reason}); make it and its folder "
        "writable, or point COPYDESK_HOME at a folder you can write"
    )
