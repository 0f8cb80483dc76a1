"""`copydesk_cassette`: a pytest fixture that records a test's model calls once, then replays.

Enable it in your `conftest.py` with
`pytest_plugins = ["copydesk.agents.client.pytest_cassette"]`. Each test that asks for the
fixture gets the cassette `cassettes/<test module>/<test name>.json` beside its module:

- `COPYDESK_RECORD=1 pytest ...` records it (a model server must answer: a key or
  `OPENAI_BASE_URL`);
- `COPYDESK_RECORD=missing` serves what it holds and records what is new;
- otherwise it is replayed with no server and no key; a missing cassette fails the test.

Build the client or the conversation manager from `copydesk_cassette.settings(settings)`:
during a replay those point at the endpoint and model the cassette was recorded with.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from copydesk.agents.client.cassette import (
    CassetteHeader,
    Mode,
    read_header,
    recording,
    replayed,
)
from copydesk.agents.settings import Settings

__all__ = ["CassetteUse", "copydesk_cassette", "mode_of", "using_cassette"]

_MODES: dict[str, Mode] = {"": "replay", "0": "replay", "1": "record", "missing": "missing"}


@dataclass(frozen=True)
class CassetteUse:
    """The cassette of one test and how it is used."""

    path: Path
    mode: Mode
    header: CassetteHeader
    describe: Callable[[CassetteHeader], None] = field(repr=False, default=lambda _: None)

    def settings(self, settings: Settings) -> Settings:
        """`settings` for this test's calls: pointed at the recording when replaying; when
        recording, their endpoint and model are what the cassette is written for."""
        if self.mode == "replay":
            return replayed(settings, self.header)
        self.describe(replace(self.header, model=settings.model, base_url=settings.openai_base_url))
        return settings


def mode_of(value: str) -> Mode:
    """The mode `COPYDESK_RECORD=value` asks for."""
    mode = _MODES.get(value.strip().lower())
    if mode is None:
        raise pytest.UsageError(
            f"COPYDESK_RECORD={value!r}: set it to 1, missing, or leave it unset"
        )
    return mode


@contextmanager
def using_cassette(path: Path, mode: Mode) -> Iterator[CassetteUse]:
    """Record, replay or complete the cassette at `path` for this block (what the fixture
    does for a test; usable alone).

    Raises:
        CassetteError: Replaying a cassette that is missing or not one.
    """
    header = read_header(path) if mode == "replay" else CassetteHeader()
    path.parent.mkdir(parents=True, exist_ok=True)
    with recording(path, mode, header if mode != "record" else None) as describe:
        yield CassetteUse(path, mode, header, describe)


@pytest.fixture
def copydesk_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteUse]:
    """This test's cassette: recorded with `COPYDESK_RECORD=1`, replayed otherwise."""
    module = Path(str(request.node.path))
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    path = module.parent / "cassettes" / module.stem / f"{name}.json"
    with using_cassette(path, mode_of(os.environ.get("COPYDESK_RECORD", ""))) as use:
        yield use
