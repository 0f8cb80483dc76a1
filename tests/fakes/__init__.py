"""Test doubles that implement real interfaces, for tests and benchmarks.

The server module is imported on first use of its names, so that
``python -m tests.fakes.openai_server`` runs without importing itself twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tests.fakes._faults import Fault, FaultKind, FaultQueue
from tests.fakes._replies import Reply, Responder

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAIServer, RecordedRequest

__all__ = [
    "FakeOpenAIServer",
    "Fault",
    "FaultKind",
    "FaultQueue",
    "RecordedRequest",
    "Reply",
    "Responder",
]

_LAZY = frozenset({"FakeOpenAIServer", "RecordedRequest"})


def __getattr__(name: str) -> Any:
    """Load names from :mod:`tests.fakes.openai_server` on first access.

    Args:
        name: The attribute being looked up.

    Returns:
        The attribute.

    Raises:
        AttributeError: If ``name`` is not exported here.
    """
    if name in _LAZY:
        return getattr(importlib.import_module("tests.fakes.openai_server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
