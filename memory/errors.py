"""Errors of the stores copydesk keeps (checkpoints, memories): each message names the store,
the problem and the fix, so a command can end with it as one line.

`memory` is a leaf: it imports nothing of ours but the base of every error
(`copydesk.errors`, which draws the whole tree); the `copydesk` command exits with `exit_code`.
"""

from __future__ import annotations

from copydesk.errors import CopydeskError

__all__ = ["DamagedStoreError", "StoreError", "StoreUnavailableError"]


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
