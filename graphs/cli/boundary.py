"""The error boundary of every `copydesk` command.

Whatever a user or their machine caused (a bad flag or setting, an unreadable or damaged file,
a store or server that cannot be reached) ends the command with one line on stderr,
`copydesk: error: <what>: <problem>; <fix>`, and an exit code: 2 for bad input and broken
files, 1 for a model or storage server that cannot be reached or keeps failing (the thread is
saved; run the command again later). A traceback is left only for bugs. Not even
`COPYDESK_LOG_LEVEL=DEBUG` prints one for these: a chained error from a library may quote what
it was sent (a key, a URL with its password), and the line already names the thing and the fix.

`BoundaryGroup` is the click group of the `copydesk` app, so the boundary holds for every
command, in a console script and under `typer.testing.CliRunner` alike.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from copydesk.errors import CopydeskError

__all__ = ["BoundaryGroup", "Failure", "explain"]


@dataclass(frozen=True)
class Failure:
    """What a command ends with: the line to print and the exit code."""

    message: str
    exit_code: int

    @property
    def line(self) -> str:
        """The one line on stderr (a multi-line message is folded into one)."""
        return "copydesk: error: " + " ".join(self.message.split())


_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def _os_failure(error: OSError) -> Failure | None:
    """A file or folder the user named (or COPYDESK_HOME) that cannot be used."""
    if error.filename is None:
        return None  # a socket or pipe: not a path the user can fix
    name = os.fsdecode(error.filename)
    problem = error.strerror or type(error).__name__
    if isinstance(error, FileNotFoundError):
        fix = "check the path (and that its folder exists)"
    elif isinstance(error, IsADirectoryError):
        fix = "name a file, not a folder"
    elif isinstance(error, NotADirectoryError | FileExistsError):
        fix = "a file stands where a folder is needed; check COPYDESK_HOME and the paths given"
    elif error.errno in _WRITE_ERRNOS:
        fix = "pick a place you can write (COPYDESK_HOME, -o) or free some space"
    else:
        fix = "check the path"
    return Failure(f"{name}: {problem}; {fix}", 2)


def _postgres_failure(error: BaseException) -> Failure | None:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(error, psycopg.OperationalError):
        return None
    reason = " ".join(str(error).split())
    return Failure(
        f"PostgreSQL is unreachable ({reason}); start it or fix the URL "
        "(COPYDESK_CHECKPOINT_URL, COPYDESK_STORE_URL), then run the command again",
        1,
    )


def explain(error: BaseException) -> Failure | None:
    """The line and exit code a user-caused or environment-caused `error` ends a command with,
    or None for a bug (which keeps its traceback)."""
    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        return explain(error.exceptions[0])
    if isinstance(error, CopydeskError):  # the whole tree: copydesk.errors
        return Failure(str(error), error.exit_code)
    if isinstance(error, OSError):
        return _os_failure(error)
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
        return Failure(
            f"a SQLite database under COPYDESK_HOME is damaged ({error}); restore it from a "
            "backup or move it aside (COPYDESK_LOG_LEVEL=DEBUG shows which)",
            2,
        )
    return _postgres_failure(error)


# Typer's click (its own copy since typer 0.2x, click itself before), found through public names.
_USAGE_ERROR: type[Exception] = next(
    k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError"
)
_CLICK_ERROR: type[Exception] = next(
    k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException"
)


def _usage_line(error: Any) -> str:
    command = error.ctx.command_path if error.ctx is not None else "copydesk"
    message = " ".join(error.format_message().split())
    return f"copydesk: error: {command}: {message} (see `{command} --help`)"


class BoundaryGroup(TyperGroup):
    """The `copydesk` group: every command runs inside the error boundary."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except _USAGE_ERROR as error:  # a bad flag or argument: one line, not a panel
            if type(error).__name__ == "NoArgsIsHelpError":
                raise  # prints the help, as asked for
            typer.echo(_usage_line(error), err=True)
            raise typer.Exit(getattr(error, "exit_code", 2)) from None
        except _CLICK_ERROR:
            raise
        except Exception as error:
            failure = explain(error)
            if failure is None:
                raise  # a bug: its traceback is what a report needs
            typer.echo(failure.line, err=True)
            raise typer.Exit(failure.exit_code) from None
