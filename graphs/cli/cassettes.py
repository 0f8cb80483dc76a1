"""`--record`, `--replay` and `--record-missing`: a command's model exchanges on a cassette.

`run`, `resume`, `fork` and `eval` take them. The flags are checked before any work (one of
them at most; a replayed cassette must be one, recorded for this topology), and the command
then runs inside `copydesk.agents.client.cassette.recording`. A replay needs no server and no
key: the run is pointed at the endpoint and model the cassette was recorded with (a `--model`
given on the command line still counts, and a request for another model fails to match).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from copydesk.graphs.errors import InputError

if TYPE_CHECKING:
    from copydesk.agents.client.cassette import CassetteHeader, Mode
    from copydesk.agents.settings import Settings

__all__ = ["RecordFlag", "RecordMissingFlag", "ReplayFlag", "Tape", "cassette_for", "tape_of"]

RecordFlag = Annotated[
    Path | None,
    typer.Option("--record", help="Write every model exchange to this cassette (JSON)."),
]
ReplayFlag = Annotated[
    Path | None,
    typer.Option("--replay", help="Serve every model exchange from this cassette: no server."),
]
RecordMissingFlag = Annotated[
    Path | None,
    typer.Option(
        "--record-missing",
        help="Serve what this cassette holds and record what is new into it.",
    ),
]


@dataclass(frozen=True)
class Tape:
    """The cassette a command uses, and how."""

    path: Path
    mode: Mode
    header: CassetteHeader

    @property
    def thread(self) -> str | None:
        """The thread the cassette was recorded under (a replay continues it by name)."""
        return self.header.thread or None if self.mode != "record" else None


def tape_of(
    *,
    record: Path | None,
    replay: Path | None,
    record_missing: Path | None,
    graph: str | None,
) -> Tape | None:
    """The cassette chosen by the flags, checked before anything is written.

    Raises:
        InputError: More than one flag, or a folder where the cassette should be.
        CassetteError: A cassette to replay that is missing, not a cassette, or recorded for
            another topology than `graph`.
    """
    from copydesk.agents.client.cassette import CassetteHeader, read_header

    given = ((record, "record"), (replay, "replay"), (record_missing, "missing"))
    chosen = [(p, m) for p, m in given if p is not None]
    if len(chosen) > 1:
        raise InputError(
            "pass one of --record, --replay and --record-missing, not several; a cassette is "
            "recorded, replayed or completed"
        )
    if not chosen:
        return None
    path, mode = chosen[0]
    assert path is not None
    if path.is_dir():
        raise InputError(f"cassette {path} is a folder; name a file, e.g. {path / 'run.json'}")
    if mode != "record" and (mode == "replay" or path.exists()):
        return Tape(path, mode, read_header(path, graph=graph))  # type: ignore[arg-type]
    if not path.parent.is_dir():
        raise InputError(f"cassette {path}: the folder {path.parent} does not exist; create it")
    return Tape(path, mode, CassetteHeader(graph=graph or ""))  # type: ignore[arg-type]


@contextmanager
def cassette_for(
    settings: Settings, tape: Tape | None, *, thread: str = "", model_given: bool = False
) -> Iterator[Settings]:
    """`settings` for a command run on `tape` (as they are without one), inside its recording.

    Raises:
        InputError: `--record` with the offline model (there is no exchange to record).
    """
    if tape is None:
        yield settings
        return
    from copydesk.agents.client.cassette import recording, replayed

    if tape.mode == "replay":
        settings = replayed(settings, tape.header, model_given)
    elif settings.is_offline:
        raise InputError(
            f"--{'record' if tape.mode == 'record' else 'record-missing'} needs a model server "
            "(OPENAI_API_KEY, OPENAI_BASE_URL or --local); the offline model is deterministic "
            "and needs no cassette"
        )
    header = tape.header
    if tape.mode != "replay":
        header = replace(
            header,
            model=settings.model,
            base_url=settings.openai_base_url,
            thread=thread or header.thread,
        )
    with recording(tape.path, tape.mode, header):
        yield settings
