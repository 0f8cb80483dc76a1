"""A settings validation error as one line: the setting, its value (secrets hidden), where the
value came from, the problem and, for a number out of range, the range to use.

`COPYDESK_MAX_ROUNDS='0' (from the environment): Input should be greater than or equal to 1;
use a number from 1 to 1000`. Only the first error is told: fixing it reveals the next.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from copydesk.agents.errors import ConfigError
from copydesk.agents.settings import Settings, aliases
from copydesk.agents.settings_checks import range_fix
from copydesk.memory.checkpoint import safe_url

__all__ = ["explain"]


def explain(
    error: ValidationError,
    *,
    flags: Mapping[str, object],
    dotenv: Mapping[str, str],
    toml_values: Mapping[str, Any],
    env_file: Path,
    config_file: Path,
) -> ConfigError:
    """The one-line `ConfigError` for the first problem in `error`.

    Args:
        error: What validating the layered values raised.
        flags: The flags that were set, by field name.
        dotenv: The values read from `env_file`.
        toml_values: The values read from `config_file`, by environment name.
        env_file: The dotenv file, named when a value came from it.
        config_file: The TOML config file, named when a value came from it.
    """
    first = error.errors()[0]
    alias = str(first["loc"][0]) if first["loc"] else "?"
    names = {a: n for n, a in aliases().items()}
    name = names.get(alias, alias)
    if name in flags:
        where = f"flag --{name.replace('_', '-')}"
    elif alias in os.environ:
        where = "the environment"
    elif alias in dotenv:
        where = str(env_file)
    elif alias in toml_values:
        where = str(config_file)
    else:
        where = "the default"
    value = first.get("input")
    if "key" in alias.lower():
        shown = "<secret>"
    elif alias.endswith("_URL") and isinstance(value, str):
        shown = repr(safe_url(value))  # a URL's password is a secret too
    else:
        shown = repr(value)
    problem = str(first["msg"]).removeprefix("Value error, ")
    key_file = os.environ.get(f"{alias}_FILE") or dotenv.get(f"{alias}_FILE")
    if key_file and alias not in os.environ:
        where = f"{alias}_FILE {key_file}"  # the value was read from that file
    return ConfigError(f"{alias}={shown} (from {where}): {problem}{_bounds_of(name, first)}")


def _bounds_of(name: str, error: Mapping[str, Any]) -> str:
    """ "; use a number from 1 to 1000" when `error` is a number out of the field's range (the
    message names one bound only), else ""."""
    if not str(error.get("type", "")).startswith(("greater_than", "less_than")):
        return ""
    field = Settings.model_fields.get(name)
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    bounds = {
        sign: getattr(rule, kind)
        for rule in (field.metadata if field is not None else ())
        for kind, sign in signs.items()
        if getattr(rule, kind, None) is not None
    }
    return range_fix(bounds)
