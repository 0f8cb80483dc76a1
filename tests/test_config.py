"""ConfigManager and Settings: defaults, layer precedence, one-line errors and secrets.

The autouse `_isolated` fixture clears OPENAI_*/COPYDESK_* variables and chdirs to tmp_path,
so `.env` and `copydesk.toml` here are each test's own files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from copydesk.agents.config import ConfigManager, Settings
from copydesk.agents.errors import ConfigError, fingerprint

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


# --- defaults ------------------------------------------------------------------------------


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


# --- precedence: flags > environment > .env > copydesk.toml > defaults ----------------------


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


# --- invalid values ------------------------------------------------------------------------


def test_invalid_flag_names_setting_problem_and_flag() -> None:
    """A bad flag gives a one-line ConfigError (exit code 2) naming the flag."""
    error = config_error(max_rounds=0)

    message = str(error)
    assert error.exit_code == 2
    assert "max_rounds=0" in message
    assert "flag --max-rounds" in message
    assert "greater than or equal to 1" in message
    assert message.endswith("; use a number from 1 to 1000")  # the fix: the whole range
    assert "\n" not in message


def test_an_out_of_range_number_says_the_range_it_must_be_in() -> None:
    """Pydantic names the one bound that failed; the line gives every bound as the fix."""
    assert str(config_error(request_timeout=0)).endswith("; use a number > 0 and <= 3600")
    assert str(config_error(window_tokens=3)).endswith("; use a number >= 64")
    assert "use a number" not in str(config_error(max_retries="lots"))  # not a range problem


def test_invalid_environment_value_names_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad variable names the variable, its value, the problem and `the environment`."""
    monkeypatch.setenv("COPYDESK_MAX_RETRIES", "lots")

    message = str(config_error())

    assert "COPYDESK_MAX_RETRIES='lots'" in message
    assert "the environment" in message
    assert "valid integer" in message


def test_invalid_dotenv_value_names_the_file() -> None:
    """A bad .env value names the .env file it came from."""
    path = write_env("COPYDESK_REQUEST_TIMEOUT=-1\n")

    message = str(config_error())

    assert "COPYDESK_REQUEST_TIMEOUT='-1'" in message
    assert f"(from {path})" in message
    assert "greater than 0" in message


def test_invalid_toml_value_names_the_file() -> None:
    """A bad copydesk.toml value names the setting and the TOML file."""
    path = write_toml('structured_output = "xml"\n')

    message = str(config_error())

    assert "COPYDESK_STRUCTURED_OUTPUT='xml'" in message
    assert f"(from {path})" in message
    assert "json_schema" in message


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("OPENAI_BASE_URL", "localhost:8080", "pattern"),
        ("COPYDESK_CHECKPOINT_URL", "mysql://db", "pattern"),
        ("COPYDESK_LOG_LEVEL", "LOUD", "DEBUG"),
        ("COPYDESK_WINDOW_TOKENS", "10", "greater than or equal to 64"),
        ("COPYDESK_MODEL", "", "at least 1 character"),
    ],
)
def test_each_constraint_is_enforced(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    """Patterns, bounds and choices are all checked and explained."""
    monkeypatch.setenv(variable, value)

    error = config_error()

    assert str(error).startswith(f"{variable}={value!r} (from the environment)")
    assert problem in str(error)


# --- config files that cannot be used ------------------------------------------------------


def test_malformed_toml_names_the_file() -> None:
    """TOML that does not parse gives a ConfigError naming the file and the position."""
    path = write_toml("model = \n")

    message = str(config_error())

    assert f"cannot read config file {path}" in message
    assert "line 1" in message


def test_unreadable_toml_names_the_file() -> None:
    """A config file that is not UTF-8 text gives a ConfigError naming it."""
    path = Path("copydesk.toml")
    path.write_bytes(b'model = "\xff\xfe"\n')

    assert f"cannot read config file {path}" in str(config_error())


def test_toml_that_is_a_directory_names_the_file() -> None:
    """A config path that cannot be read at all (a directory) gives a ConfigError."""
    Path("copydesk.toml").mkdir()

    assert "cannot read config file copydesk.toml" in str(config_error())


def test_unknown_toml_key_is_listed() -> None:
    """Unknown TOML keys are listed (sorted) with the known ones; aliases are not keys."""
    path = write_toml('modle = "x"\nCOPYDESK_MODEL = "y"\nmodel = "z"\n')

    message = str(config_error())

    assert f"config file {path}: unknown setting(s) COPYDESK_MODEL, modle;" in message
    assert "known: " in message
    assert "max_rounds" in message


# --- secrets -------------------------------------------------------------------------------


def test_api_key_is_secret_in_repr_and_str(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is a SecretStr: repr/str of Settings and of the manager never show it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    manager = ConfigManager()
    settings = manager.settings

    assert isinstance(settings.openai_api_key, SecretStr)
    assert settings.openai_api_key.get_secret_value() == KEY
    for text in (repr(settings), str(settings), repr(manager), settings.model_dump_json()):
        assert KEY not in text


def test_invalid_setting_error_never_contains_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error about another setting does not echo the key."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    write_env(f"OPENAI_API_KEY={KEY}\nCOPYDESK_MAX_ROUNDS=0\n")

    message = str(config_error())

    assert "COPYDESK_MAX_ROUNDS" in message
    assert KEY not in message


def test_invalid_key_value_is_shown_as_secret() -> None:
    """An invalid key value itself is shown as <secret>, never echoed."""
    write_toml("openai_api_key = 424242424242\n")

    message = str(config_error())

    assert message.startswith("OPENAI_API_KEY=<secret> (from copydesk.toml)")
    assert "424242" not in message


def test_key_from_dotenv_and_toml_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key follows the same precedence as every other setting."""
    write_toml('openai_api_key = "sk-from-toml"\n')
    assert ConfigManager().secret() == SecretStr("sk-from-toml")

    write_env("OPENAI_API_KEY=sk-from-dotenv\n")
    assert ConfigManager().secret() == SecretStr("sk-from-dotenv")

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert ConfigManager().secret() == SecretStr("sk-from-env")


def test_secret_is_none_without_a_key(home: Path) -> None:
    """With no key anywhere secret() is None and nothing is audited."""
    manager = ConfigManager(flags={"home": home})

    assert manager.secret() is None
    assert not (home / "audit.log").exists()


def test_key_file_is_read_and_rotation_picked_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """OPENAI_API_KEY_FILE supplies the key; a rewritten file is re-read by secret()."""
    key_file = tmp_path / "secrets" / "openai"
    key_file.parent.mkdir()
    key_file.write_text("sk-first-key-0001\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    manager = ConfigManager(flags={"home": home})

    first = manager.secret()
    again = manager.secret()
    key_file.write_text("sk-second-key-0002\n")
    stat = key_file.stat()
    os.utime(key_file, (stat.st_atime + 10, stat.st_mtime + 10))
    rotated = manager.secret()

    assert first is not None and again is not None and rotated is not None
    assert first.get_secret_value() == "sk-first-key-0001"  # stripped of the newline
    assert again.get_secret_value() == "sk-first-key-0001"
    assert rotated.get_secret_value() == "sk-second-key-0002"
    assert manager.settings.openai_api_key == rotated
    assert manager.settings.is_offline is False


def test_audit_log_has_one_line_per_secret_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """Each secret() call appends one JSON line with the fingerprint and no key text."""
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-audit-first-77\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    manager = ConfigManager(flags={"home": home})

    manager.secret()
    manager.secret()
    key_file.write_text("sk-audit-second-88\n")
    os.utime(key_file, (key_file.stat().st_atime, key_file.stat().st_mtime + 10))
    manager.secret()

    lines = audit_lines(home)
    assert len(lines) == 3
    assert [line["id"] for line in lines] == [
        fingerprint("sk-audit-first-77"),
        fingerprint("sk-audit-first-77"),
        fingerprint("sk-audit-second-88"),
    ]
    assert {line["secret"] for line in lines} == {"OPENAI_API_KEY"}
    assert {line["source"] for line in lines} == {"OPENAI_API_KEY_FILE"}
    log_text = (home / "audit.log").read_text()
    for key in ("sk-audit-first-77", "sk-audit-second-88"):
        assert not any(key[i : i + 6] in log_text for i in range(len(key) - 5))


def test_key_file_named_in_dotenv_is_rotated(tmp_path: Path, home: Path) -> None:
    """OPENAI_API_KEY_FILE in .env works like the variable, rotation and audit source included."""
    key_file = tmp_path / "dotenv.key"
    key_file.write_text("sk-dotenv-one\n")
    write_env(f"OPENAI_API_KEY_FILE={key_file}\n")
    manager = ConfigManager(flags={"home": home})

    first = manager.secret()
    key_file.write_text("sk-dotenv-two\n")
    os.utime(key_file, (key_file.stat().st_atime, key_file.stat().st_mtime + 10))
    rotated = manager.secret()

    assert first == SecretStr("sk-dotenv-one")
    assert rotated == SecretStr("sk-dotenv-two")
    assert [line["source"] for line in audit_lines(home)] == ["OPENAI_API_KEY_FILE"] * 2


def test_key_variable_beats_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """OPENAI_API_KEY set directly wins over OPENAI_API_KEY_FILE, and the audit says so."""
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-from-file\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-variable")
    manager = ConfigManager(flags={"home": home})

    assert manager.secret() == SecretStr("sk-from-variable")
    [line] = audit_lines(home)
    assert line["source"] == "OPENAI_API_KEY"
    assert line["id"] == fingerprint("sk-from-variable")


def test_missing_key_file_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A key file that cannot be read gives a ConfigError naming the variable and path."""
    missing = tmp_path / "nowhere" / "openai.key"
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(missing))

    error = config_error()

    assert error.exit_code == 2
    assert f"OPENAI_API_KEY_FILE: cannot read {missing}" in str(error)


def test_settings_from_flags_by_field_name() -> None:
    """Settings can be built directly from field names (populate_by_name)."""
    settings = Settings(model="direct", max_rounds=2)

    assert settings.model == "direct"
    assert settings.max_rounds == 2


def test_a_key_file_that_is_not_text_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    key_file = tmp_path / "openai.key"
    key_file.write_bytes(b"\xff\xfe\x00\x9c binary")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))

    with pytest.raises(ConfigError) as caught:
        ConfigManager(flags={"home": home}).load()

    assert str(caught.value) == (
        f"OPENAI_API_KEY_FILE: {key_file} is not a text file; put the key alone in it as text"
    )


def test_a_rotation_caught_half_written_keeps_the_last_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path
) -> None:
    """A file emptied (written in place, read half way) or gone for a moment keeps the key
    in use; the next complete file is read."""
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-steady-key-1\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    manager = ConfigManager(flags={"home": home})
    assert manager.secret() == SecretStr("sk-steady-key-1")

    key_file.write_text("")
    assert manager.secret() == SecretStr("sk-steady-key-1")
    key_file.unlink()
    assert manager.secret() == SecretStr("sk-steady-key-1")
    key_file.write_text("sk-next-key-22\n")
    assert manager.secret(use="POST /v1/embeddings") == SecretStr("sk-next-key-22")

    lines = audit_lines(home)
    assert [line["id"] for line in lines] == [fingerprint("sk-steady-key-1")] * 3 + [
        fingerprint("sk-next-key-22")
    ]
    assert lines[-1]["use"] == "POST /v1/embeddings"
