"""`ConfigManager`: the settings of a run and the secrets among them, handed out as they are now.

Settings come from CLI flags > environment > `.env` > `copydesk.toml` > defaults
(`settings_layers`), checked as they load (`Settings`, `settings_checks`); a bad value is one
`ConfigError` line (`settings_errors`). Secrets are `SecretStr` and never printed; one read
from a `NAME_FILE` is re-read when the file is rotated, and each use leaves an audit line
(`secret_files`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from copydesk.agents.errors import ConfigError, fingerprint
from copydesk.agents.secret_files import Secrets
from copydesk.agents.settings import Settings, aliases
from copydesk.agents.settings_layers import load_settings, read_dotenv

__all__ = ["ConfigError", "ConfigManager", "Settings"]

CONFIG_FILE = Path("copydesk.toml")
ENV_FILE = Path(".env")


@dataclass
class ConfigManager:
    """Loads `Settings` from every source and hands out secrets.

    Attributes:
        flags: Values from CLI flags, by field name (`model`, `max_rounds`, ...). None is unset.
        env_file: The dotenv file (missing is fine).
        config_file: The TOML config file (missing is fine); keys are field names.
    """

    flags: Mapping[str, object] = field(default_factory=dict)
    env_file: Path = ENV_FILE
    config_file: Path = CONFIG_FILE
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _secrets: Secrets = field(default_factory=Secrets, init=False, repr=False)
    # secret() is called from worker threads (one per request, off the event loop).
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @classmethod
    def of(cls, settings: Settings) -> ConfigManager:
        """A manager handing out the secrets of `settings` as they were loaded (flags and
        all), still re-reading a rotated `NAME_FILE` and auditing each use."""
        manager = cls()
        manager._settings = settings
        return manager

    @property
    def settings(self) -> Settings:
        """The settings, loaded on first use."""
        if self._settings is None:
            self._settings = self.load()
        return self._settings

    def load(self) -> Settings:
        """Load and validate every source.

        Raises:
            ConfigError: One line naming the setting, the problem and where the value came from.
        """
        return load_settings(
            self.flags, env_file=self.env_file, config_file=self.config_file, secrets=self._secrets
        )

    def secret(self, name: str = "openai_api_key", *, use: str | None = None) -> SecretStr | None:
        """The current value of a secret setting, re-reading a rotated `NAME_FILE`.

        Cheap enough for every request: the file is re-read only when its modification time,
        size or inode changed (a rename-into-place rotation too). A file that cannot be read
        in the middle of a rotation keeps the last key until it can. Each call that returns
        a secret appends an audit line (name, source, fingerprint, `use`; never the value).
        Safe to call from several threads.

        Args:
            name: The setting's field name.
            use: What the secret is used for, e.g. `POST /v1/chat/completions`.
        """
        alias = aliases()[name]
        with self._lock:
            # The variable itself beats the file, as in `load`.
            path = self._secrets.path(alias, lambda: read_dotenv(self.env_file))
            if path is not None:
                rotated = self._secrets.rotated(alias, path)
                if rotated is not None:
                    self._settings = self.settings.model_copy(update={name: SecretStr(rotated)})
            value = getattr(self.settings, name)
            if not isinstance(value, SecretStr):
                return None
            source = f"{alias}_FILE" if path is not None else alias
            self._secrets.audit(
                self.settings.home, alias, source, fingerprint(value.get_secret_value()), use
            )
            return value
