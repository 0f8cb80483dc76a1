"""What the ConfigManager tests share: a key to watch for, and this test's own `.env` and
`copydesk.toml` (the autouse `_isolated` fixture chdirs each test to its tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from copydesk.agents.config import ConfigManager
from copydesk.agents.errors import ConfigError

KEY = "sk-canary-secret-4242"


def write_env(lines: str) -> Path:
    path = Path(".env")
    path.write_text(lines, encoding="utf-8")
    return path


def write_toml(text: str) -> Path:
    path = Path("copydesk.toml")
    path.write_text(text, encoding="utf-8")
    return path


def config_error(**flags: Any) -> ConfigError:
    """The ConfigError that loading with these flags raises."""
    with pytest.raises(ConfigError) as info:
        ConfigManager(flags=flags).load()
    return info.value


def audit_lines(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
