"""One error hierarchy: every error a package defines for a person to read is a
`CopydeskError`, drawn in `copydesk.errors`' docstring with its exit code and module, and no
two share a name."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import copydesk
from copydesk import errors
from copydesk.errors import CopydeskError

INTERNAL = {
    "FeatureRefused": "a feature the server refused; the call is sent again without it",
    "ContextExceeded": "a prompt past the context; the call is trimmed and sent again",
    "EmptyReply": "a stream that ended with no chunk, retried as a transport error",
    "CallTimeout": "a whole call past its wall-clock bound, retried as a timeout",
    "StreamCut": "a stream cut mid-reply, retried as a connection error",
    "IndexFileError": "a FAISS index file that cannot be read; the store rebuilds it",
    "ThreadBusy": "another worker holds the thread's lock; the job is delivered again",
}
"""Exceptions that never reach a person: each is caught inside copydesk and acted on."""

DRAWN = re.compile(r"^    [│├└─ ]*(\w+Error)\s+.*?\s([12])  (\S+)$", re.MULTILINE)


def defined_errors() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the four packages, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(copydesk.__path__, "copydesk."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{value.__name__}"] = value
    return found


def test_every_error_a_person_reads_is_a_copydesk_error() -> None:
    found = defined_errors()
    assert len(found) > 20
    outside = sorted(
        name
        for name, cls in found.items()
        if not issubclass(cls, CopydeskError) and cls.__name__ not in INTERNAL
    )
    assert outside == []


def test_no_two_errors_share_a_name() -> None:
    names = [name.rsplit(".", 1)[1] for name in defined_errors()]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_the_docstring_draws_every_error_with_its_module_and_exit_code() -> None:
    drawn = {
        name: (int(code), module.replace("(this", "copydesk.errors"))
        for name, code, module in DRAWN.findall(errors.__doc__ or "")
    }
    drawn["CopydeskError"] = (1, "errors")
    found = {
        cls.__name__: (cls.exit_code, name.rsplit(".", 1)[0].removeprefix("copydesk."))
        for name, cls in defined_errors().items()
        if issubclass(cls, CopydeskError)
    }
    assert drawn == found


@pytest.mark.parametrize("name", ["PromptError", "CheckpointURLError", "EmbedderMismatchError"])
def test_value_errors_stay_value_errors(name: str) -> None:
    [cls] = [c for c in defined_errors().values() if c.__name__ == name]
    assert issubclass(cls, ValueError) and issubclass(cls, CopydeskError)


def test_the_errors_page_draws_the_same_tree() -> None:
    page = (Path(__file__).parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    drawn = {(name, code, module) for name, code, module in DRAWN.findall(errors.__doc__ or "")}
    drawn.add(("CopydeskError", "1", "copydesk.errors"))
    shown = {
        (name, code, module)
        for name, code, module in re.findall(
            r"^[│├└─ ]*(\w+Error)\s+.*?\s([12])  (\S+)$", page, re.MULTILINE
        )
    }
    assert shown == drawn
