"""Settings from every layer: CLI flags > environment > `.env` > `copydesk.toml` > defaults.

`Settings` reads flags and the environment itself; the two files are read here (the TOML by
field name, the dotenv by environment name, unknown dotenv names ignored), with a secret's
`NAME_FILE` read into the layer the file named it in. A file value counts only for a setting
that neither a flag nor the environment sets, so the layers keep their order.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from copydesk.agents.errors import ConfigError
from copydesk.agents.secret_files import Secrets
from copydesk.agents.settings import Settings, aliases
from copydesk.agents.settings_errors import explain

__all__ = ["SECRET_SETTINGS", "load_settings", "read_dotenv", "read_toml"]

SECRET_SETTINGS = ("OPENAI_API_KEY",)
"""The settings that may come from a `NAME_FILE`, by environment name."""


def load_settings(
    flags: Mapping[str, object], *, env_file: Path, config_file: Path, secrets: Secrets
) -> Settings:
    """Load and validate every layer.

    Args:
        flags: Values from CLI flags, by field name; None is unset.
        env_file: The dotenv file (missing is fine).
        config_file: The TOML config file (missing is fine).
        secrets: Where the secret files read are recorded (for re-reading when rotated).

    Raises:
        ConfigError: One line naming the setting, the problem and where the value came from.
    """
    toml_values = read_toml(config_file)
    dotenv = read_dotenv(env_file)
    set_flags = {k: v for k, v in flags.items() if v is not None}
    files: dict[str, Any] = {**toml_values, **dotenv}
    for alias in SECRET_SETTINGS:
        secret = secrets.read(alias, lambda: files)
        if secret is not None:
            files[alias] = secret
    names = {alias: name for name, alias in aliases().items()}
    below = {
        alias: value
        for alias, value in files.items()
        if alias in names and alias not in os.environ and names[alias] not in set_flags
    }
    values: dict[str, Any] = {**below, **set_flags}
    try:
        return Settings(**values)
    except ValidationError as error:
        raise explain(
            error,
            flags=set_flags,
            dotenv=dotenv,
            toml_values=toml_values,
            env_file=env_file,
            config_file=config_file,
        ) from None


def read_toml(path: Path) -> dict[str, Any]:
    """The settings in the TOML file `path` (keys are field names), by environment name; {}
    when there is no file.

    Raises:
        ConfigError: The file cannot be read or parsed, or names an unknown setting.
    """
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}; fix or remove it") from None
    known = aliases()
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return {known[key]: value for key, value in data.items()}


def read_dotenv(path: Path) -> dict[str, str]:
    """The settings (and `NAME_FILE`s) in the dotenv file `path`; {} when there is no file.

    Raises:
        ConfigError: The file cannot be read.
    """
    if not path.exists():
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}; fix or remove it") from None
    names = aliases().values()
    known = set(names) | {f"{a}_FILE" for a in names}
    return {k: v for k, v in values.items() if k in known and v is not None}
