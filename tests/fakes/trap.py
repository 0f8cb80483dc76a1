"""A callable that a crafted checkpoint row names; it leaves a file behind if it ever runs."""

from __future__ import annotations

from pathlib import Path


class Spring:
    """Constructing one writes `path`: proof that deserialization ran attacker-named code."""

    def __init__(self, path: str) -> None:
        Path(path).write_text("the crafted checkpoint ran code", encoding="utf-8")
