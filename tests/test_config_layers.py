"""ConfigManager and Settings: the defaults, and the layers that override them.

The autouse `_isolated` fixture clears OPENAI_*/COPYDESK_* variables and chdirs to tmp_path,
so `.env` and `copydesk.toml` here are each test's own files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from copydesk.agents.config import ConfigManager, Settings
from tests._config import KEY, write_env, write_toml

# --- defaults --------------------------------------------------------------------------------


def test_defaults_with_no_sources() -> None:
    """With no flags, variables or files, every setting has its documented default."""
    settings = ConfigManager().settings

    assert settings.model == "gpt-4o-mini"
    assert settings.home == Path(".copydesk")
    assert settings.checkpoint_url is None
    assert settings.resolved_checkpoint_url == "sqlite:///.copydesk/checkpoints.sqlite"
    assert settings.openai_api_key is None
    assert settings.openai_base_url is None
    assert settings.is_offline is True
    assert settings.max_retries == 6
    assert settings.max_rounds == 3
    assert settings.structured_output == "json_schema"
    assert settings.log_level == "WARNING"


def test_checkpoint_url_defaults_under_home(home: Path) -> None:
    """The default checkpoint URL follows the home setting; an explicit URL wins."""
    assert ConfigManager(flags={"home": home}).settings.resolved_checkpoint_url == (
        f"sqlite:///{home / 'checkpoints.sqlite'}"
    )
    explicit = ConfigManager(flags={"checkpoint_url": "memory:"}).settings
    assert explicit.resolved_checkpoint_url == "memory:"


@pytest.mark.parametrize(
    ("variables", "offline"),
    [
        ({}, True),
        ({"OPENAI_API_KEY": KEY}, False),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}, False),
        ({"OPENAI_API_KEY": KEY, "COPYDESK_OFFLINE": "true"}, True),
    ],
)
def test_offline_when_no_key_and_no_base_url(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], offline: bool
) -> None:
    """Offline without a key and a base URL, or when forced; online with either one."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert ConfigManager().settings.is_offline is offline


def test_settings_are_frozen() -> None:
    """Loaded settings cannot be changed in place."""
    settings = ConfigManager().settings

    with pytest.raises(ValueError, match="frozen"):
        settings.model = "other"  # type: ignore[misc]


def test_settings_from_flags_by_field_name() -> None:
    """Settings can be built directly from field names (populate_by_name)."""
    settings = Settings(model="direct", max_rounds=2)

    assert settings.model == "direct"
    assert settings.max_rounds == 2


# --- precedence: flags > environment > .env > copydesk.toml > defaults -----------------------


def test_toml_beats_defaults() -> None:
    """copydesk.toml (keys are field names) overrides the defaults, with its types kept."""
    write_toml('model = "from-toml"\nmax_rounds = 5\noffline = true\n')

    settings = ConfigManager().settings

    assert settings.model == "from-toml"
    assert settings.max_rounds == 5
    assert settings.offline is True
    assert settings.max_retries == 6  # untouched settings keep their defaults


def test_dotenv_beats_toml() -> None:
    """.env overrides copydesk.toml, and only for the settings it names."""
    write_toml('model = "from-toml"\nmax_rounds = 5\n')
    write_env("COPYDESK_MODEL=from-dotenv\n")

    settings = ConfigManager().settings

    assert settings.model == "from-dotenv"
    assert settings.max_rounds == 5


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process variable overrides .env and copydesk.toml."""
    write_toml('model = "from-toml"\n')
    write_env("COPYDESK_MODEL=from-dotenv\nCOPYDESK_MAX_ROUNDS=7\n")
    monkeypatch.setenv("COPYDESK_MODEL", "from-env")

    settings = ConfigManager().settings

    assert settings.model == "from-env"
    assert settings.max_rounds == 7


def test_flags_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI flag overrides every other layer; a flag of None counts as unset."""
    write_toml('model = "from-toml"\nmax_rounds = 5\n')
    write_env("COPYDESK_MODEL=from-dotenv\n")
    monkeypatch.setenv("COPYDESK_MODEL", "from-env")

    settings = ConfigManager(flags={"model": "from-flag", "max_rounds": None}).settings

    assert settings.model == "from-flag"
    assert settings.max_rounds == 5


def test_custom_file_locations(tmp_path: Path) -> None:
    """env_file and config_file point the manager at other files; defaults are not read."""
    write_env("COPYDESK_MODEL=from-default-dotenv\n")
    other_env = tmp_path / "conf" / "team.env"
    other_env.parent.mkdir()
    other_env.write_text("COPYDESK_MAX_ROUNDS=9\n")
    other_toml = tmp_path / "conf" / "team.toml"
    other_toml.write_text('log_level = "DEBUG"\n')

    settings = ConfigManager(env_file=other_env, config_file=other_toml).settings

    assert settings.model == "gpt-4o-mini"
    assert settings.max_rounds == 9
    assert settings.log_level == "DEBUG"


def test_dotenv_ignores_unrelated_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """.env lines for other programs are ignored, and .env never changes os.environ."""
    write_env("DATABASE_URL=postgres://elsewhere\nCOPYDESK_MODEL=from-dotenv\n")

    assert ConfigManager().settings.model == "from-dotenv"
    assert "DATABASE_URL" not in os.environ
    assert "COPYDESK_MODEL" not in os.environ


def test_invalid_lower_layer_is_shadowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the winning value is validated: a bad .env value under a good variable is fine."""
    write_env("COPYDESK_MAX_ROUNDS=zero\n")
    monkeypatch.setenv("COPYDESK_MAX_ROUNDS", "4")

    assert ConfigManager().settings.max_rounds == 4
