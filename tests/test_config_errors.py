"""ConfigManager's one-line errors: an invalid value names its setting, where it came from
and the fix; a config file that cannot be used names the file.

The autouse `_isolated` fixture clears OPENAI_*/COPYDESK_* variables and chdirs to tmp_path,
so `.env` and `copydesk.toml` here are each test's own files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._config import config_error, write_env, write_toml

# --- invalid values --------------------------------------------------------------------------


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


# --- config files that cannot be used --------------------------------------------------------


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
